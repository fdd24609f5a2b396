"""Events for upstream apps: models, the outbox they are kept in, and the sinks that deliver them."""
