variable "cluster_name" {
  description = "EKS cluster the add-ons are installed into (also the owner tag of its load balancers and DNS records)."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the cluster, e.g. 1.33 (the Cluster Autoscaler image must match it)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster: IAM roles for service accounts (IRSA) trust it."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer of the cluster without https:// (prefix of the IRSA trust condition keys)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (given to the load balancer controller: pods cannot read it from IMDS, whose hop limit is 1)."
  type        = string
}

variable "node_group_arn" {
  description = "ARN of the managed node group the Cluster Autoscaler scales."
  type        = string
}

variable "node_group_autoscaling_group_names" {
  description = "Auto Scaling groups of the managed node group: the only ones the Cluster Autoscaler may resize."
  type        = list(string)
}

variable "domain" {
  description = "Dashboard host; the gateway is served at ingest.<domain>. Both are on the ACM certificate."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of `domain`: holds the certificate's DNS validation records and, with manage_dns_records, the hosts' alias records."
  type        = string
}

variable "manage_dns_records" {
  description = "Install external-dns, limited to the two hosts in route53_zone_id, so the Ingress's load balancer gets its DNS records; false = create them yourself."
  type        = bool
  default     = true
}

variable "prometheus_url" {
  description = "Prometheus that KEDA queries for consumer lag; empty = install a small in-cluster Prometheus (namespace monitoring) that scrapes pods annotated prometheus.io/scrape."
  type        = string
  default     = ""
}

variable "prometheus_retention" {
  description = "Retention of the in-cluster Prometheus (it feeds autoscaling, not long-term monitoring; its storage is an emptyDir)."
  type        = string
  default     = "2d"
}

# Chart versions are pinned: an upgrade is a reviewed change of one of these.
variable "aws_load_balancer_controller_chart_version" {
  description = "Chart version of eks/aws-load-balancer-controller (https://aws.github.io/eks-charts)."
  type        = string
  default     = "3.5.0"
}

variable "metrics_server_chart_version" {
  description = "Chart version of metrics-server (https://kubernetes-sigs.github.io/metrics-server): CPU/memory metrics for HPAs and kubectl top."
  type        = string
  default     = "3.13.1"
}

variable "cluster_autoscaler_chart_version" {
  description = "Chart version of autoscaler/cluster-autoscaler (https://kubernetes.github.io/autoscaler)."
  type        = string
  default     = "9.59.0"
}

variable "cluster_autoscaler_image_tag" {
  description = "Cluster Autoscaler image tag; its minor version must equal the cluster's Kubernetes minor (checked)."
  type        = string
  default     = "v1.33.6"
}

variable "keda_chart_version" {
  description = "Chart version of kedacore/keda (https://kedacore.github.io/charts): scales processors and projector by consumer lag."
  type        = string
  default     = "2.20.2"
}

variable "prometheus_chart_version" {
  description = "Chart version of prometheus-community/prometheus (https://prometheus-community.github.io/helm-charts), used when prometheus_url is empty."
  type        = string
  default     = "29.27.0"
}

variable "external_dns_chart_version" {
  description = "Chart version of external-dns (https://kubernetes-sigs.github.io/external-dns), used with manage_dns_records."
  type        = string
  default     = "1.21.1"
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
