"""A dramatiq broker on Amazon SQS FIFO queues (one message group per mailbox, a dead-letter queue)."""

from pipeline.runtimes.sqs.broker import SqsFifoBroker
from pipeline.runtimes.sqs.consumer import SqsMessageProxy
from pipeline.runtimes.sqs.grouping import message_group_id
from pipeline.runtimes.sqs.redelivery import SqsRedelivery, fifo_middleware, visibility_timeout_for

__all__ = [
    "SqsFifoBroker",
    "SqsMessageProxy",
    "SqsRedelivery",
    "fifo_middleware",
    "message_group_id",
    "visibility_timeout_for",
]
