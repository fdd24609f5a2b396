"""Running jobs: the shared runner, the per-process runtime, dramatiq actors and brokers (Redis,
RabbitMQ, SQS FIFO), the worker command, and the Lambda job processor."""
