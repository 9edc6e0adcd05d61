# One MindHit environment: network, EKS with its add-ons (load balancer controller,
# certificate, DNS, metrics-server, Cluster Autoscaler, KEDA), RDS PostgreSQL,
# ElastiCache Redis (cluster mode in prod), the image repository, and the application secret in
# AWS Secrets Manager. Its outputs are what the Helm chart needs: `helm_values` (YAML
# layered over charts/mindhit/values-prod.yaml or values-dev.yaml) and the secret that
# deploy.yml syncs into the Kubernetes Secret `mindhit-app`.

locals {
  name = "mindhit-${var.environment}"
  tags = merge(var.tags, {
    "mindhit/environment" = var.environment
    "managed-by"          = "terraform"
  })
}

module "networking" {
  source             = "../networking"
  name               = local.name
  cluster_name       = local.name
  cidr_block         = var.vpc_cidr_block
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "eks" {
  source              = "../eks"
  cluster_name        = local.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.networking.vpc_id
  vpc_cidr_block      = module.networking.vpc_cidr_block
  private_subnet_ids  = module.networking.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  logs_kms_key_arn    = module.networking.logs_kms_key_arn
  node_instance_types = var.node_instance_types
  node_min_size       = var.node_min_size
  node_desired_size   = var.node_desired_size
  node_max_size       = var.node_max_size
  tags                = local.tags
}

module "rds" {
  source                     = "../rds"
  name                       = local.name
  vpc_id                     = module.networking.vpc_id
  subnet_ids                 = module.networking.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class             = var.db_instance_class
  multi_az                   = var.db_multi_az
  backup_retention_days      = var.db_backup_retention_days
  deletion_protection        = var.deletion_protection
  tags                       = local.tags
}

module "elasticache" {
  source                     = "../elasticache"
  name                       = local.name
  vpc_id                     = module.networking.vpc_id
  subnet_ids                 = module.networking.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  node_type                  = var.redis_node_type
  cluster_mode               = var.redis_cluster_mode
  shards                     = var.redis_shards
  replicas_per_shard         = var.redis_replicas_per_shard
  logs_kms_key_arn           = module.networking.logs_kms_key_arn
  tags                       = local.tags
}

module "cluster_addons" {
  source                             = "../cluster_addons"
  cluster_name                       = module.eks.cluster_name
  kubernetes_version                 = module.eks.kubernetes_version
  oidc_provider_arn                  = module.eks.oidc_provider_arn
  oidc_issuer                        = module.eks.oidc_issuer
  vpc_id                             = module.networking.vpc_id
  node_group_arn                     = module.eks.node_group_arn
  node_group_autoscaling_group_names = module.eks.node_group_autoscaling_group_names
  domain                             = var.domain
  route53_zone_id                    = var.route53_zone_id
  manage_dns_records                 = var.manage_dns_records
  prometheus_url                     = var.prometheus_url
  tags                               = local.tags
}

module "app_key" {
  source      = "../kms_key"
  description = "${local.name} image repository and application secret"
  tags        = local.tags
}

resource "aws_ecr_repository" "app" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.app_key.arn
  }
  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 50 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

resource "random_password" "secret_key" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:the URLs embed passwords generated here; rotation means a new terraform apply plus a rollout, documented in the README
  name       = "${local.name}/app"
  kms_key_id = module.app_key.arn
  tags       = local.tags
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  # keys are MINDHIT_* settings, exactly the chart's secret keys
  secret_string = jsonencode(merge(
    {
      MINDHIT_DATABASE_URL = module.rds.database_url
      MINDHIT_REDIS_URL    = module.elasticache.redis_url
      MINDHIT_SECRET_KEY   = random_password.secret_key.result
    },
    var.gemini_api_key == "" ? {} : { MINDHIT_GEMINI_API_KEY = var.gemini_api_key },
    var.openai_api_key == "" ? {} : { MINDHIT_OPENAI_API_KEY = var.openai_api_key },
    var.anthropic_api_key == "" ? {} : { MINDHIT_ANTHROPIC_API_KEY = var.anthropic_api_key },
    var.smtp_url == "" ? {} : { MINDHIT_SMTP_URL = var.smtp_url },
  ))
}
