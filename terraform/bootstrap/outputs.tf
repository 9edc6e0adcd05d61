output "state_bucket" {
  description = "Bucket the environments' S3 backend uses."
  value       = aws_s3_bucket.state.bucket
}

output "lock_table" {
  description = "Table the environments' S3 backend locks with."
  value       = aws_dynamodb_table.locks.name
}
