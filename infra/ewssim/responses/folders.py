"""EWS operations: folders (being written)."""
