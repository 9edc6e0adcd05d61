variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "service_principals" {
  description = "AWS service principals that encrypt with the key themselves (e.g. logs.<region>.amazonaws.com)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
