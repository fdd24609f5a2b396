"""Graph views over the EWS simulator's models: ids, callers, extended properties, time zones,
delta state and the per-mailbox concurrency limit. The mailbox data itself lives in
infra.ewssim.models (EwsBackend); nothing here copies it."""
