variable "region" {
  description = "AWS region of the staging environment."
  type        = string
  default     = "eu-west-1"
}

variable "domain" {
  description = "Host name of the staging dashboard."
  type        = string
}
