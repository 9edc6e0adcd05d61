variable "name" {
  description = "Name of the environment's network, e.g. mindhit-prod."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster that will use these subnets (for the subnet discovery tags)."
  type        = string
}

variable "cidr_block" {
  description = "CIDR block of the VPC (a /16 leaves room for 16 subnets of /20)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones (names) to spread subnets over; Multi-AZ RDS and Redis need 2+."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6
    error_message = "Give between 2 and 6 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper, for dev) instead of one per AZ."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of VPC flow logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
