# AWS Load Balancer Controller: the chart's Ingress (class alb, target type ip) becomes
# one internet-facing ALB in the public subnets (tagged kubernetes.io/role/elb by
# modules/networking). Shield, WAF and WAFv2 integration are off, so the role has none
# of their permissions, nor those of Outposts (customer-owned IP pools) or IPAM pools. Everything it creates carries the tag
# elbv2.k8s.aws/cluster=<cluster>, and every write below is limited to resources with
# that tag, in this account and region (describe calls have no resource-level scope).

locals {
  elb_arn = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}"
  ec2_arn = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
  owner   = "elbv2.k8s.aws/cluster"
  # ALB-only: the chart needs no network load balancers
  elb_resources = {
    load_balancers = ["${local.elb_arn}:loadbalancer/app/*/*"]
    target_groups  = ["${local.elb_arn}:targetgroup/*/*"]
    listeners      = ["${local.elb_arn}:listener/app/*/*/*", "${local.elb_arn}:listener-rule/app/*/*/*"]
  }
}

data "aws_iam_policy_document" "load_balancer_controller" {
  statement {
    sid       = "ServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid = "Describe"
    actions = [
      "acm:ListCertificates",
      "ec2:DescribeAccountAttributes",
      "ec2:DescribeAddresses",
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInstances",
      "ec2:DescribeInternetGateways",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeRouteTables",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeTags",
      "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeVpcs",
      "elasticloadbalancing:DescribeCapacityReservation",
      "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeListenerCertificates",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeSSLPolicies",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTrustStores",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "SecurityGroupsOfOurVpc"
    actions   = ["ec2:GetSecurityGroupsForVpc"]
    resources = ["${local.ec2_arn}:vpc/${var.vpc_id}", "${local.ec2_arn}:security-group/*"]
  }
  statement {
    sid       = "OurCertificate"
    actions   = ["acm:DescribeCertificate"]
    resources = [aws_acm_certificate.ingress.arn]
  }
  statement {
    sid       = "CreateSecurityGroupInOurVpc"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["${local.ec2_arn}:vpc/${var.vpc_id}", "${local.ec2_arn}:security-group/*"]
  }
  statement {
    sid       = "TagNewSecurityGroups"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.ec2_arn}:security-group/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner}"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "RetagOwnSecurityGroups"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["${local.ec2_arn}:security-group/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner}"
      values   = [var.cluster_name]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/${local.owner}"
      values   = ["true"]
    }
  }
  statement {
    # the ALB's own security groups and the nodes' (to let the ALB reach pod IPs)
    sid       = "IngressRulesInOurVpc"
    actions   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
    resources = ["${local.ec2_arn}:security-group/*"]
    condition {
      test     = "ArnEquals"
      variable = "ec2:Vpc"
      values   = ["${local.ec2_arn}:vpc/${var.vpc_id}"]
    }
  }
  statement {
    sid       = "DeleteOwnSecurityGroups"
    actions   = ["ec2:DeleteSecurityGroup"]
    resources = ["${local.ec2_arn}:security-group/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner}"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "CreateOwnLoadBalancers"
    actions   = ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
    resources = concat(local.elb_resources.load_balancers, local.elb_resources.target_groups)
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner}"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "TagOnCreate"
    actions   = ["elasticloadbalancing:AddTags"]
    resources = concat(local.elb_resources.load_balancers, local.elb_resources.target_groups)
    condition {
      test     = "StringEquals"
      variable = "elasticloadbalancing:CreateAction"
      values   = ["CreateLoadBalancer", "CreateTargetGroup"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner}"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "RetagOwnLoadBalancers"
    actions   = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = concat(local.elb_resources.load_balancers, local.elb_resources.target_groups)
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner}"
      values   = [var.cluster_name]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/${local.owner}"
      values   = ["true"]
    }
  }
  statement {
    sid = "ManageOwnLoadBalancers"
    actions = [
      "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:ModifyCapacityReservation",
      "elasticloadbalancing:ModifyIpPools",
      "elasticloadbalancing:ModifyListenerAttributes",
      "elasticloadbalancing:ModifyLoadBalancerAttributes",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:RegisterTargets",
      "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets",
    ]
    resources = concat(local.elb_resources.load_balancers, local.elb_resources.target_groups, local.elb_resources.listeners)
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner}"
      values   = [var.cluster_name]
    }
  }
  statement {
    # listeners and rules of the ALBs above; rules created by older controller versions
    # carry no owner tag, so these are limited by ARN (ALBs of this account and region)
    sid = "ListenersAndRules"
    actions = [
      "elasticloadbalancing:AddListenerCertificates",
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:RemoveListenerCertificates",
      "elasticloadbalancing:SetRulePriorities",
    ]
    resources = concat(local.elb_resources.load_balancers, local.elb_resources.listeners)
  }
  statement {
    sid       = "ListenerTags"
    actions   = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = local.elb_resources.listeners
  }
}

resource "helm_release" "aws_load_balancer_controller" {
  name        = "aws-load-balancer-controller"
  repository  = "https://aws.github.io/eks-charts"
  chart       = "aws-load-balancer-controller"
  version     = var.aws_load_balancer_controller_chart_version
  namespace   = "kube-system"
  atomic      = true
  max_history = 5
  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = local.region
    vpcId        = var.vpc_id
    replicaCount = 2
    serviceAccount = {
      create      = true
      name        = local.irsa["load-balancer-controller"].service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["load-balancer-controller"].arn }
    }
    enableShield        = false
    enableWaf           = false
    enableWafv2         = false
    defaultTags         = { "mindhit/cluster" = var.cluster_name }
    podDisruptionBudget = { maxUnavailable = 1 }
  })]
  depends_on = [aws_iam_role_policy.irsa]
}
