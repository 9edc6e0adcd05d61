# A customer-managed KMS key with rotation, administered by the account and, where a
# service writes encrypted data itself (CloudWatch Logs), usable by that service.
# Every MindHit module that encrypts at rest takes its key from here.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "this" {
  description         = var.description
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.this.json
  tags                = var.tags
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_109:key policies must name the key itself as "*"
  #checkov:skip=CKV_AWS_111:key policies must name the key itself as "*"
  #checkov:skip=CKV_AWS_356:key policies must name the key itself as "*"
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  dynamic "statement" {
    for_each = length(var.service_principals) > 0 ? [1] : []
    content {
      sid       = "Services"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = var.service_principals
      }
    }
  }
}
