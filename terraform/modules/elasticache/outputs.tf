output "primary_endpoint" {
  description = "Primary endpoint host name (follows failover)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_url" {
  description = "MINDHIT_REDIS_URL for the application (TLS, AUTH token)."
  value = format(
    "rediss://:%s@%s:6379/0",
    random_password.auth.result,
    aws_elasticache_replication_group.this.primary_endpoint_address,
  )
  sensitive = true
}
