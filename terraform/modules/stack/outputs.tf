output "cluster_name" {
  description = "EKS cluster (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "ecr_repository_url" {
  description = "Where deploy.yml pushes the image."
  value       = aws_ecr_repository.app.repository_url
}

output "app_secret_arn" {
  description = "Secrets Manager secret deploy.yml syncs into the Kubernetes Secret mindhit-app."
  value       = aws_secretsmanager_secret.app.arn
}

output "helm_values" {
  description = "Environment part of the Helm values (layered over values-prod.yaml)."
  value = yamlencode({
    image = { repository = aws_ecr_repository.app.repository_url }
    config = {
      MINDHIT_PUBLIC_URL    = "https://${var.domain}"
      MINDHIT_PARTITIONS    = tostring(var.partitions)
      MINDHIT_WAIT_REPLICAS = tostring(min(var.redis_replicas, 1))
    }
    secrets    = { existingSecret = "mindhit-app" }
    processors = { replicas = min(var.processor_replicas, var.partitions) }
    ingress    = { host = var.domain, gatewayHost = "ingest.${var.domain}", tls = { enabled = true, secretName = "mindhit-tls" } }
    postgresql = { enabled = false }
    redis      = { enabled = false }
  })
}
