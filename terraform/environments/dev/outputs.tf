output "cluster_name" {
  description = "EKS cluster name."
  value       = module.mindhit.cluster_name
}

output "ecr_repository_url" {
  description = "Image repository."
  value       = module.mindhit.ecr_repository_url
}

output "app_secret_arn" {
  description = "Application secret (MINDHIT_DATABASE_URL, MINDHIT_REDIS_URL, MINDHIT_SECRET_KEY)."
  value       = module.mindhit.app_secret_arn
}

output "helm_values" {
  description = "Helm values for this environment: terraform output -raw helm_values > env-values.yaml"
  value       = module.mindhit.helm_values
}
