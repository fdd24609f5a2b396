"""The results table on DynamoDB. Key shapes: keys.py; boto3 calls and their errors: table.py."""

from pipeline.store.dynamodb.keys import create_table
from pipeline.store.dynamodb.store import DynamoDbStore

__all__ = ["DynamoDbStore", "create_table"]
