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

variable "route53_zone_id" {
  description = "Route 53 hosted zone of `domain`: DNS validation of the ACM certificate and, with manage_dns_records, the hosts' records."
  type        = string
}

variable "manage_dns_records" {
  description = "Let external-dns keep <domain> and ingest.<domain> pointing at the ALB (false = create those records yourself)."
  type        = bool
  default     = true
}

variable "partitions" {
  description = "MINDHIT_PARTITIONS: partitions per topic, the ceiling of processors and projector members; fixed for the log's lifetime (README, Deploy)."
  type        = number
  default     = 24
}

variable "processors_replicas" {
  description = "Bounds of the processors' lag autoscaling (KEDA): min members (2+ survives a crash) and max (at most `partitions`)."
  type        = object({ min = number, max = number })
  default     = { min = 2, max = 12 }
  validation {
    condition     = var.processors_replicas.min >= 1 && var.processors_replicas.min <= var.processors_replicas.max
    error_message = "processors_replicas needs 1 <= min <= max."
  }
}

variable "projector_replicas" {
  description = "Bounds of the projector's lag autoscaling (KEDA): min and max replicas (at most `partitions`)."
  type        = object({ min = number, max = number })
  default     = { min = 2, max = 6 }
  validation {
    condition     = var.projector_replicas.min >= 1 && var.projector_replicas.min <= var.projector_replicas.max
    error_message = "projector_replicas needs 1 <= min <= max."
  }
}

variable "prometheus_url" {
  description = "Prometheus KEDA reads consumer lag from; empty = a small in-cluster one (modules/cluster_addons)."
  type        = string
  default     = ""
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

variable "redis_cluster_mode" {
  description = "ElastiCache cluster mode (shards, the application's cluster client). Only where every component speaks Redis Cluster: until then the gateway, dashboard and processors' own state refuse a cluster URL (README, Deploy)."
  type        = bool
  default     = false
}

variable "redis_shards" {
  description = "ElastiCache shards with redis_cluster_mode (1 without); pick a count that spreads `partitions` evenly (README, Deploy)."
  type        = number
  default     = 1
}

variable "redis_replicas_per_shard" {
  description = "ElastiCache replicas of each shard's primary (1+: failover, and the replica the gateway waits for)."
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
