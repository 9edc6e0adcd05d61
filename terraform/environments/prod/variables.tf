variable "region" {
  description = "AWS region of the prod environment."
  type        = string
  default     = "eu-west-1"
}

variable "domain" {
  description = "Host name of the prod dashboard."
  type        = string
}
