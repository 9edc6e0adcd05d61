# Redis 7 on ElastiCache for MindHit's event log (Redis Streams). With `cluster_mode`
# (prod), `shards` node groups (each a primary with `replicas_per_shard` replicas in other
# AZs) share the 16,384 hash slots and the application connects through the
# configuration endpoint with redis-py's cluster client (the URL's rediss+cluster://). A
# partition's streams and group state share the hash tag {pN}: which shard holds a
# partition follows from the slot of "pN" (README, Deploy, gives the spread per count).
# Without it (dev) it is one primary with replicas behind the primary endpoint. Either way: automatic failover, Multi-AZ, encryption in transit (TLS,
# AUTH token) and at rest (KMS), daily snapshots and slow-log delivery, noeviction.
# Note: ElastiCache has no AOF for Redis 7; durability comes from replicas, which is why
# the application waits for a replica (MINDHIT_WAIT_REPLICAS=1) before acknowledging.

locals {
  tags = merge(var.tags, { "mindhit/component" = "redis" })
  # where the application connects: the configuration endpoint in cluster mode (the
  # cluster client discovers every shard from it), else the primary (follows failover)
  endpoint = (var.cluster_mode
    ? aws_elasticache_replication_group.this.configuration_endpoint_address
    : aws_elasticache_replication_group.this.primary_endpoint_address
  )
}

module "redis_key" {
  source      = "../kms_key"
  description = "${var.name} Redis at rest"
  tags        = local.tags
}

resource "random_password" "auth" {
  length  = 64
  special = false
}

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-redis"
  description = "Redis of ${var.name}: only from the application's security groups"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "app" {
  for_each                     = toset(var.allowed_security_group_ids)
  security_group_id            = aws_security_group.this.id
  description                  = "Redis from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

resource "aws_elasticache_parameter_group" "this" {
  name   = var.cluster_mode ? "${var.name}-redis7-cluster" : "${var.name}-redis7"
  family = "redis7"
  # the event log must never be evicted
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
  # cluster mode: the application connects with redis-py's cluster client (rediss+cluster://)
  parameter {
    name  = "cluster-enabled"
    value = var.cluster_mode ? "yes" : "no"
  }
  tags = local.tags
}

resource "aws_cloudwatch_log_group" "slow_log" {
  name              = "/mindhit/${var.name}/redis-slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = local.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = var.name
  description                = "MindHit event log (${var.name})"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  cluster_mode               = var.cluster_mode ? "enabled" : "disabled"
  num_node_groups            = var.cluster_mode ? var.shards : null
  replicas_per_node_group    = var.cluster_mode ? var.replicas_per_shard : null
  num_cache_clusters         = var.cluster_mode ? null : var.replicas_per_shard + 1
  port                       = 6379
  parameter_group_name       = aws_elasticache_parameter_group.this.name
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.this.id]
  automatic_failover_enabled = true
  multi_az_enabled           = true
  at_rest_encryption_enabled = true
  kms_key_id                 = module.redis_key.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result
  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  lifecycle {
    precondition {
      condition     = var.cluster_mode || var.shards == 1
      error_message = "shards > 1 needs cluster_mode."
    }
  }

  tags = local.tags
}
