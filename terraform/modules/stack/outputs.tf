output "cluster_name" {
  description = "EKS cluster (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "API server of the EKS cluster (the helm provider installs the add-ons through it)."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API server."
  value       = module.eks.cluster_certificate_authority
}

output "ecr_repository_url" {
  description = "Where deploy.yml pushes the image."
  value       = aws_ecr_repository.app.repository_url
}

output "app_secret_arn" {
  description = "Secrets Manager secret deploy.yml syncs into the Kubernetes Secret mindhit-app."
  value       = aws_secretsmanager_secret.app.arn
}

output "addon_chart_versions" {
  description = "Pinned chart version of each cluster add-on."
  value       = module.cluster_addons.chart_versions
}

output "helm_values" {
  description = "Environment part of the Helm values (layered over values-prod.yaml or values-dev.yaml)."
  value = yamlencode({
    image = { repository = aws_ecr_repository.app.repository_url }
    config = {
      MINDHIT_PUBLIC_URL         = "https://${var.domain}"
      MINDHIT_GATEWAY_PUBLIC_URL = "https://ingest.${var.domain}"
      # the ALB (target type ip) connects to the pods from inside the VPC
      MINDHIT_TRUSTED_PROXIES = var.vpc_cidr_block
      MINDHIT_PARTITIONS      = tostring(var.partitions)
      MINDHIT_WAIT_REPLICAS   = tostring(min(var.redis_replicas_per_shard, 1))
    }
    secrets = { existingSecret = "mindhit-app" }
    processors = { autoscaling = {
      enabled     = true
      minReplicas = var.processors_replicas.min
      maxReplicas = var.processors_replicas.max
    } }
    projector = { autoscaling = {
      enabled     = true
      minReplicas = var.projector_replicas.min
      maxReplicas = var.projector_replicas.max
    } }
    keda = { prometheusUrl = module.cluster_addons.prometheus_url }
    ingress = {
      host        = var.domain
      gatewayHost = "ingest.${var.domain}"
      annotations = { "alb.ingress.kubernetes.io/certificate-arn" = module.cluster_addons.certificate_arn }
      tls         = { enabled = true, secretName = "mindhit-tls" }
    }
    postgresql = { enabled = false }
    redis      = { enabled = false }
  })
  precondition {
    condition     = max(var.processors_replicas.max, var.projector_replicas.max) <= var.partitions
    error_message = "processors_replicas.max and projector_replicas.max must not exceed partitions: a partition is processed by one member at a time."
  }
}
