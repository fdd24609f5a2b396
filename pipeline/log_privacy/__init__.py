"""What libraries write at DEBUG that must never reach a log.

- botocore: every call's payload (aws_payloads.py: job kwargs, records, messages, events), secrets'
  payloads and AWS credentials (secret_payloads.py, aws_credentials.py), filters installed
  process-wide and idempotently by the code that builds the clients (pipeline.aws_clients, the
  secrets source, the SQS broker);
- urllib3: the mailboxes and query values in Graph request lines (graph_requests.py), installed
  by the Graph connector;
- exchangelib (and requests_oauthlib under it): SOAP bodies, request headers, accounts, folders
  and autodiscovered addresses (ews_payloads.py, showing values as ews_values.py says), installed
  by the EWS connector's install_log_scrubbing.
"""
