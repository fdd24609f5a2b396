"""Deploying with AWS SAM: the pinned CLI (sam_check) and what goes into the Lambda artifacts."""
