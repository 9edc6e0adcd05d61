output "cluster_name" {
  description = "Name of the cluster (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API server."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group EKS attaches to nodes and pods (database access is granted to it)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "OIDC provider for IAM roles of service accounts."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer of the cluster without the scheme (the prefix of IRSA trust condition keys)."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

output "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (add-ons that follow it, e.g. the Cluster Autoscaler, check it)."
  value       = aws_eks_cluster.this.version
}

output "node_group_arn" {
  description = "ARN of the managed node group the Cluster Autoscaler scales."
  value       = aws_eks_node_group.default.arn
}

output "node_group_autoscaling_group_names" {
  description = "Auto Scaling groups behind the managed node group (the only ones the Cluster Autoscaler may resize)."
  value       = flatten([for r in aws_eks_node_group.default.resources : [for g in r.autoscaling_groups : g.name]])
}
