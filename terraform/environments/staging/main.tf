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

module "mindhit" {
  source                   = "../../modules/stack"
  environment              = "staging"
  gemini_api_key           = var.gemini_api_key
  openai_api_key           = var.openai_api_key
  anthropic_api_key        = var.anthropic_api_key
  smtp_url                 = var.smtp_url
  domain                   = var.domain
  vpc_cidr_block           = "10.20.0.0/16"
  partitions               = 8
  processor_replicas       = 1
  db_instance_class        = "db.m6g.large"
  db_multi_az              = true
  db_backup_retention_days = 7
  redis_replicas           = 1
}
