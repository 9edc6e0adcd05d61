# MindHit prod environment. State lives in S3 with a DynamoDB lock table, created once
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
  }
  backend "s3" {
    bucket         = "mindhit-terraform-state"
    key            = "environments/prod/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "mindhit-terraform-locks"
    encrypt        = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "mindhit", environment = "prod" }
  }
}

module "mindhit" {
  source                   = "../../modules/stack"
  environment              = "prod"
  gemini_api_key           = var.gemini_api_key
  openai_api_key           = var.openai_api_key
  anthropic_api_key        = var.anthropic_api_key
  smtp_url                 = var.smtp_url
  domain                   = var.domain
  vpc_cidr_block           = "10.30.0.0/16"
  partitions               = 16
  processor_replicas       = 1
  node_min_size            = 3
  node_desired_size        = 4
  node_max_size            = 12
  db_instance_class        = "db.r6g.xlarge"
  db_multi_az              = true
  db_backup_retention_days = 35
  deletion_protection      = true
  redis_node_type          = "cache.r7g.large"
  redis_replicas           = 2
}
