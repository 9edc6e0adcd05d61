variable "environment" {
  description = "dev, staging or prod."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "domain" {
  description = "Host name users reach the dashboard at."
  type        = string
}

variable "partitions" {
  description = "MINDHIT_PARTITIONS: partitions per topic (caps processor replicas)."
  type        = number
  default     = 16
}

variable "processor_replicas" {
  description = "Faust worker replicas (at most `partitions`; 1 until the transport coordinates workers)."
  type        = number
  default     = 1
}

variable "vpc_cidr_block" {
  description = "CIDR of the environment's VPC."
  type        = string
}

variable "availability_zones" {
  description = "Availability zone names of the environment (2+)."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "Share one NAT gateway between AZs (dev)."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to the public EKS API endpoint (CI runners, VPN); empty = private only."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "EKS node instance types."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_min_size" {
  description = "Minimum EKS nodes."
  type        = number
  default     = 2
}

variable "node_desired_size" {
  description = "Desired EKS nodes."
  type        = number
  default     = 3
}

variable "node_max_size" {
  description = "Maximum EKS nodes."
  type        = number
  default     = 6
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "db_multi_az" {
  description = "RDS Multi-AZ standby."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "RDS automated backup retention."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m7g.large"
}

variable "redis_replicas" {
  description = "ElastiCache replicas besides the primary."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "gemini_api_key" {
  description = "MINDHIT_GEMINI_API_KEY for the application secret (TF_VAR_gemini_api_key); empty = the offline local AI provider."
  type        = string
  default     = ""
  sensitive   = true
}

variable "openai_api_key" {
  description = "MINDHIT_OPENAI_API_KEY for the application secret (TF_VAR_openai_api_key); empty = not set."
  type        = string
  default     = ""
  sensitive   = true
}

variable "anthropic_api_key" {
  description = "MINDHIT_ANTHROPIC_API_KEY for the application secret (TF_VAR_anthropic_api_key); empty = not set."
  type        = string
  default     = ""
  sensitive   = true
}

variable "smtp_url" {
  description = "MINDHIT_SMTP_URL for session report emails (TF_VAR_smtp_url); empty = no emails."
  type        = string
  default     = ""
  sensitive   = true
}
