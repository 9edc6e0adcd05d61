variable "region" {
  description = "AWS region of the dev environment."
  type        = string
  default     = "eu-west-1"
}

variable "domain" {
  description = "Host name of the dev dashboard."
  type        = string
}
