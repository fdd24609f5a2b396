"""EWS operations: availability (being written)."""
