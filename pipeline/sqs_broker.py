"""The SQS FIFO broker, under the name `pipeline.broker` imports (the code lives in `pipeline.sqs`)."""

from pipeline.sqs import SqsFifoBroker, SqsRedelivery, message_group_id, visibility_timeout_for

__all__ = ["SqsFifoBroker", "SqsRedelivery", "message_group_id", "visibility_timeout_for"]
