variable "region" {
  description = "Region of the state bucket and lock table (the environments' backend blocks name it)."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket" {
  description = "S3 bucket for Terraform state (environments/*/main.tf backend \"s3\" bucket)."
  type        = string
  default     = "mindhit-terraform-state"
}

variable "lock_table" {
  description = "DynamoDB table for state locks (backend \"s3\" dynamodb_table)."
  type        = string
  default     = "mindhit-terraform-locks"
}
