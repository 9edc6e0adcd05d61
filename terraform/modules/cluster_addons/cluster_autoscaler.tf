# Cluster Autoscaler rather than Karpenter: the cluster has one managed node group whose
# launch template already carries what we require of nodes (IMDSv2 with hop limit 1,
# encrypted gp3 disks) and whose min/max sizes are the budget. The Cluster Autoscaler
# resizes exactly that group (found by the tags EKS puts on its Auto Scaling groups);
# Karpenter would launch instances outside it (its own NodePool/EC2NodeClass, instance
# profile and interruption queue), a second node path to secure, for workloads that
# are homogeneous (Python pods of 0.25-1 CPU) and gain little from instance-type choice.
# Writes are limited to the node group's Auto Scaling groups (by name and owner tag).

locals {
  asg_arns = [
    for name in var.node_group_autoscaling_group_names :
    "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${name}"
  ]
}

data "aws_iam_policy_document" "cluster_autoscaler" {
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "OurNodeGroup"
    actions   = ["eks:DescribeNodegroup"]
    resources = [var.node_group_arn]
  }
  statement {
    sid       = "ResizeOurNodeGroup"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = local.asg_arns
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

resource "helm_release" "cluster_autoscaler" {
  name        = "cluster-autoscaler"
  repository  = "https://kubernetes.github.io/autoscaler"
  chart       = "cluster-autoscaler"
  version     = var.cluster_autoscaler_chart_version
  namespace   = "kube-system"
  atomic      = true
  max_history = 5
  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = local.region
    autoDiscovery = { clusterName = var.cluster_name }
    image         = { tag = var.cluster_autoscaler_image_tag }
    rbac = {
      serviceAccount = {
        create      = true
        name        = local.irsa["cluster-autoscaler"].service_account
        annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["cluster-autoscaler"].arn }
      }
    }
    extraArgs = {
      # kube-system add-ons (controllers below) have PDBs; they must not pin nodes
      skip-nodes-with-system-pods = false
      balance-similar-node-groups = true
      expander                    = "least-waste"
      scale-down-unneeded-time    = "10m"
    }
  })]
  lifecycle {
    precondition {
      condition     = startswith(var.cluster_autoscaler_image_tag, "v${var.kubernetes_version}.")
      error_message = "cluster_autoscaler_image_tag (${var.cluster_autoscaler_image_tag}) must match the cluster's Kubernetes minor ${var.kubernetes_version}."
    }
  }
  depends_on = [aws_iam_role_policy.irsa, helm_release.aws_load_balancer_controller]
}
