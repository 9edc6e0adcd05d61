# MindHit dev environment. State lives in S3 with a DynamoDB lock table, created once
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
    key            = "environments/dev/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "mindhit-terraform-locks"
    encrypt        = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "mindhit", environment = "dev" }
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
  #checkov:skip=CKV_AWS_157:dev runs a single-AZ database to halve its cost; staging and prod are Multi-AZ
  source                   = "../../modules/stack"
  environment              = "dev"
  gemini_api_key           = var.gemini_api_key
  openai_api_key           = var.openai_api_key
  anthropic_api_key        = var.anthropic_api_key
  smtp_url                 = var.smtp_url
  domain                   = var.domain
  vpc_cidr_block           = "10.10.0.0/16"
  single_nat_gateway       = true
  route53_zone_id          = var.route53_zone_id
  partitions               = 4
  processors_replicas      = { min = 1, max = 4 }
  projector_replicas       = { min = 1, max = 2 }
  node_instance_types      = ["t3.large"]
  node_min_size            = 1
  node_desired_size        = 2
  node_max_size            = 3
  db_instance_class        = "db.t4g.medium"
  db_multi_az              = false
  db_backup_retention_days = 3
  redis_node_type          = "cache.t4g.small"
  # not cluster mode until every component speaks Redis Cluster (README, Deploy)
  redis_cluster_mode       = false
  redis_shards             = 1
  redis_replicas_per_shard = 1
}
