"""What botocore writes at DEBUG that must never reach a log: secrets' payloads, AWS credentials.

Both are filters on botocore's own loggers, installed process-wide and idempotently by the code
that builds the clients (pipeline.aws_clients, the secrets source, the SQS broker).
"""
