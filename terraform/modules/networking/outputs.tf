output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (internet-facing load balancers)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (EKS nodes, RDS, ElastiCache)."
  value       = aws_subnet.private[*].id
}

output "logs_kms_key_arn" {
  description = "KMS key for CloudWatch log groups of this environment."
  value       = module.logs_key.arn
}
