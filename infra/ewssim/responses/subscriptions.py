"""EWS operations: subscriptions (being written)."""
