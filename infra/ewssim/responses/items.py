"""EWS operations: items (being written)."""
