# What an EKS cluster needs to serve MindHit's traffic and to grow, beyond what EKS
# installs itself, each a pinned Helm release (or AWS resource) managed here:
#   AWS Load Balancer Controller  turns the chart's Ingress (class alb) into an ALB
#   ACM certificate               TLS for <domain> and ingest.<domain>, DNS-validated
#   external-dns                  the hosts' records, pointing at that ALB (optional)
#   metrics-server                CPU/memory metrics: the gateway's HPA, kubectl top
#   Cluster Autoscaler            adds/removes nodes of the managed node group
#   KEDA (+ a small Prometheus)   scales processors and projector by consumer lag
# Every add-on that calls AWS has its own IAM role for its service account (IRSA),
# trusted only by that service account and allowed only what it does, on this cluster's
# resources (tags elbv2.k8s.aws/cluster and k8s.io/cluster-autoscaler/<cluster>, the
# node group's ASGs, the hosted zone's two hosts).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  hosts      = [var.domain, "ingest.${var.domain}"]
  tags       = merge(var.tags, { "mindhit/cluster" = var.cluster_name })

  # service accounts that get an IAM role, and what each may do
  irsa = merge(
    {
      load-balancer-controller = {
        namespace       = "kube-system"
        service_account = "aws-load-balancer-controller"
        policy          = data.aws_iam_policy_document.load_balancer_controller.json
      }
      cluster-autoscaler = {
        namespace       = "kube-system"
        service_account = "cluster-autoscaler"
        policy          = data.aws_iam_policy_document.cluster_autoscaler.json
      }
    },
    var.manage_dns_records ? {
      external-dns = {
        namespace       = "kube-system"
        service_account = "external-dns"
        policy          = data.aws_iam_policy_document.external_dns.json
      }
    } : {},
  )
  prometheus_url = var.prometheus_url != "" ? var.prometheus_url : "http://prometheus-server.monitoring.svc.cluster.local"
}

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.irsa
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each           = local.irsa
  name               = "${var.cluster_name}-${each.key}"
  description        = "IRSA role of ${each.value.namespace}/${each.value.service_account} in ${var.cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "irsa" {
  for_each = local.irsa
  name     = each.key
  role     = aws_iam_role.irsa[each.key].id
  policy   = each.value.policy
}

# TLS for both hosts of the Ingress; the ALB controller attaches it by ARN
# (helm_values: alb.ingress.kubernetes.io/certificate-arn).
resource "aws_acm_certificate" "ingress" {
  domain_name               = var.domain
  subject_alternative_names = ["ingest.${var.domain}"]
  validation_method         = "DNS"
  tags                      = local.tags
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in aws_acm_certificate.ingress.domain_validation_options : option.domain_name => option
  }
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "ingress" {
  certificate_arn         = aws_acm_certificate.ingress.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}
