# MindHit staging environment. State lives in S3 with a DynamoDB lock table, created once
# per account (see terraform/README.md); `terraform init` then `terraform apply`.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
  }
  backend "s3" {
    bucket         = "mindhit-terraform-state"
    key            = "environments/staging/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "mindhit-terraform-locks"
    encrypt        = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "mindhit", environment = "staging" }
  }
}

# The cluster add-ons (modules/cluster_addons) are Helm releases installed through the
# new cluster's API, with a token from the AWS CLI (as for kubectl); the identity
# running terraform created the cluster, so it is its administrator.
provider "helm" {
  kubernetes = {
    host                   = module.mindhit.cluster_endpoint
    cluster_ca_certificate = base64decode(module.mindhit.cluster_certificate_authority)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.mindhit.cluster_name, "--region", var.region]
    }
  }
}

module "mindhit" {
  source                   = "../../modules/stack"
  environment              = "staging"
  gemini_api_key           = var.gemini_api_key
  openai_api_key           = var.openai_api_key
  anthropic_api_key        = var.anthropic_api_key
  smtp_url                 = var.smtp_url
  domain                   = var.domain
  vpc_cidr_block           = "10.20.0.0/16"
  route53_zone_id          = var.route53_zone_id
  partitions               = 8
  processors_replicas      = { min = 2, max = 4 }
  projector_replicas       = { min = 2, max = 4 }
  db_instance_class        = "db.m6g.large"
  db_multi_az              = true
  db_backup_retention_days = 7
  # cluster mode with one shard: every component speaks Redis Cluster, and staging runs
  # the client path prod runs (README, Redis Cluster)
  redis_cluster_mode       = true
  redis_shards             = 1
  redis_replicas_per_shard = 1
}
