variable "region" {
  description = "AWS region of the staging environment."
  type        = string
  default     = "eu-west-1"
}

variable "domain" {
  description = "Host name of the staging dashboard."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone holding the staging domain (certificate validation, DNS records)."
  type        = string
}

variable "gemini_api_key" {
  description = "Gemini API key (set TF_VAR_gemini_api_key; never commit it)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "openai_api_key" {
  description = "OpenAI API key (set TF_VAR_openai_api_key; never commit it)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "anthropic_api_key" {
  description = "Anthropic API key (set TF_VAR_anthropic_api_key; never commit it)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "smtp_url" {
  description = "SMTP server for session reports (set TF_VAR_smtp_url)."
  type        = string
  default     = ""
  sensitive   = true
}
