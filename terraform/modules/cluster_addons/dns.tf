# external-dns: the Ingress's two hosts get alias records for the ALB the controller
# made, in route53_zone_id, owned through TXT records (owner id = the cluster). Its role
# may change only those names (and their TXT ownership records) in that one zone.

data "aws_iam_policy_document" "external_dns" {
  statement {
    sid       = "ListZones"
    actions   = ["route53:ListHostedZones"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadOurZone"
    actions   = ["route53:ListResourceRecordSets", "route53:ListTagsForResources"]
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
  }
  statement {
    sid       = "ChangeOurHosts"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      # the hosts, and the registry's TXT records beside them (a-<host>, cname-<host>)
      values = concat(local.hosts, [for host in local.hosts : "*-${host}"])
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["A", "AAAA", "CNAME", "TXT"]
    }
  }
}

resource "helm_release" "external_dns" {
  count       = var.manage_dns_records ? 1 : 0
  name        = "external-dns"
  repository  = "https://kubernetes-sigs.github.io/external-dns"
  chart       = "external-dns"
  version     = var.external_dns_chart_version
  namespace   = "kube-system"
  atomic      = true
  max_history = 5
  values = [yamlencode({
    provider      = { name = "aws" }
    sources       = ["ingress"]
    policy        = "sync"
    registry      = "txt"
    txtOwnerId    = var.cluster_name
    domainFilters = [var.domain]
    extraArgs     = ["--zone-id-filter=${var.route53_zone_id}", "--aws-zone-type=public"]
    env           = [{ name = "AWS_DEFAULT_REGION", value = local.region }]
    serviceAccount = {
      create      = true
      name        = "external-dns"
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["external-dns"].arn }
    }
  })]
  depends_on = [aws_iam_role_policy.irsa, helm_release.aws_load_balancer_controller]
}
