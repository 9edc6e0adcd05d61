output "endpoint" {
  description = "Where the application connects: the configuration endpoint in cluster mode, else the primary endpoint."
  value       = local.endpoint
}

output "redis_url" {
  description = "MINDHIT_REDIS_URL for the application: TLS, AUTH token, and in cluster mode cluster=true, the flag mindhit/redis_client.py reads to use redis-py's cluster client."
  value = format(
    "rediss://:%s@%s:6379/0%s",
    random_password.auth.result,
    local.endpoint,
    var.cluster_mode ? "?cluster=true" : "",
  )
  sensitive = true
}
