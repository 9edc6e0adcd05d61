output "certificate_arn" {
  description = "Validated ACM certificate of <domain> and ingest.<domain> (the Ingress's alb.ingress.kubernetes.io/certificate-arn)."
  value       = aws_acm_certificate_validation.ingress.certificate_arn
}

output "prometheus_url" {
  description = "Prometheus the chart's KEDA ScaledObjects query for consumer lag."
  value       = local.prometheus_url
}

output "irsa_role_arns" {
  description = "IAM role of each add-on service account that calls AWS."
  value       = { for key, role in aws_iam_role.irsa : key => role.arn }
}

output "chart_versions" {
  description = "Pinned chart version of each add-on release."
  value = {
    aws-load-balancer-controller = var.aws_load_balancer_controller_chart_version
    metrics-server               = var.metrics_server_chart_version
    cluster-autoscaler           = var.cluster_autoscaler_chart_version
    keda                         = var.keda_chart_version
    prometheus                   = var.prometheus_url == "" ? var.prometheus_chart_version : "external"
    external-dns                 = var.manage_dns_records ? var.external_dns_chart_version : "not installed"
  }
}
