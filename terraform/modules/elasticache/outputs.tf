output "endpoint" {
  description = "Where the application connects: the configuration endpoint in cluster mode, else the primary endpoint."
  value       = local.endpoint
}

output "redis_url" {
  description = "MINDHIT_REDIS_URL for the application: TLS, AUTH token, and in cluster mode the rediss+cluster:// scheme, which makes mindhit/redis_client.py use redis-py's cluster client."
  value = format(
    "%s://:%s@%s:6379/0",
    var.cluster_mode ? "rediss+cluster" : "rediss",
    random_password.auth.result,
    local.endpoint,
  )
  sensitive = true
}
