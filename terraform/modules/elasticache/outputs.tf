output "configuration_endpoint" {
  description = "Configuration endpoint host name: the cluster client discovers every shard from it."
  value       = aws_elasticache_replication_group.this.configuration_endpoint_address
}

output "redis_url" {
  description = "MINDHIT_REDIS_URL for the application: TLS, AUTH token, and cluster=true, the flag mindhit/redis_client.py reads to use redis-py's cluster client."
  value = format(
    "rediss://:%s@%s:6379/0?cluster=true",
    random_password.auth.result,
    aws_elasticache_replication_group.this.configuration_endpoint_address,
  )
  sensitive = true
}
