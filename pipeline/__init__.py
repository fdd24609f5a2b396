"""ews-pipeline: queue-driven EWS actions for booking products."""
