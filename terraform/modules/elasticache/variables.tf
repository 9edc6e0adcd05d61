variable "name" {
  description = "Replication group id, e.g. mindhit-prod."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (2+ AZs)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect (the EKS cluster's)."
  type        = list(string)
}

variable "engine_version" {
  description = "Redis engine version (7.x: XADD with explicit sequence, Streams)."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Node type."
  type        = string
  default     = "cache.m7g.large"
}

variable "cluster_mode" {
  description = "Cluster mode enabled: shards share the hash slots and the URL's scheme is rediss+cluster:// (the application's cluster client). Off: one primary with replicas (only for applications without Redis Cluster support)."
  type        = bool
  default     = true
}

variable "shards" {
  description = "Node groups (shards) in cluster mode (1 without it); each holds an even range of hash slots. Prefer a count that spreads MINDHIT_PARTITIONS evenly (README, Deploy: 2 or 4 for 16/24 partitions)."
  type        = number
  default     = 1
  validation {
    condition     = var.shards >= 1 && var.shards <= 500
    error_message = "shards must be between 1 and 500."
  }
}

variable "replicas_per_shard" {
  description = "Replicas of each shard's primary, in other AZs (automatic failover and Multi-AZ need at least one)."
  type        = number
  default     = 1
  validation {
    condition     = var.replicas_per_shard >= 1 && var.replicas_per_shard <= 5
    error_message = "replicas_per_shard must be between 1 and 5 (automatic failover needs a replica)."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots."
  type        = number
  default     = 7
}

variable "logs_kms_key_arn" {
  description = "KMS key encrypting the slow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the slow log."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
