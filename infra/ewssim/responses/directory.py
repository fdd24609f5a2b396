"""EWS operations: directory (being written)."""
