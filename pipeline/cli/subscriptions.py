"""`ews-pipeline subscriptions list | renew`: push subscriptions and their renewal."""

from __future__ import annotations

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

__all__ = ["subscriptions"]


@click.group()
def subscriptions() -> None:
    """See and renew the push subscriptions that report changes made in Exchange."""


@subscriptions.command("list")
@click.option("--stale", is_flag=True, help="Only those gone silent or reported broken.")
@pipeline_command
def list_(output: Output, stale: bool) -> None:
    """Every active subscription, least recently heard from first."""
    from datetime import UTC, datetime

    from pipeline.cli.environment import load_config, open_store

    now = datetime.now(UTC)
    records = open_store(load_config()).list_active_subscriptions()
    rows = [{"subscription_id": r.record_id, "integration_id": r.integration_id, "mailbox": r.mailbox,
             "last_seen_at": r.last_seen_at.isoformat(), "stale": r.is_stale(now),
             "renewal_requested_at": r.renewal_requested_at.isoformat() if r.renewal_requested_at else None}
            for r in records if r.is_stale(now) or not stale]

    def text() -> None:
        if not rows:
            output.line("no stale subscriptions" if stale else "no active subscriptions")
            return
        columns = ("subscription_id", "integration_id", "mailbox", "last_seen_at", "stale")
        output.table(columns, [[row[c] for c in columns] for row in rows])

    output.emit({"subscriptions": rows}, text)


@subscriptions.command()
@click.argument("subscription_ids", nargs=-1)
@click.option("--stale", is_flag=True, help="Renew every stale subscription (what the schedule does).")
@pipeline_command
def renew(output: Output, subscription_ids: tuple[str, ...], stale: bool) -> None:
    """Enqueue renew_subscription for SUBSCRIPTION_IDS (forced), or for every stale one (--stale)."""
    from datetime import UTC, datetime

    from pipeline.cli.environment import load_config, open_broker, open_store
    from pipeline.renewals import enqueue_stale_renewals
    from pipeline.runtimes.enqueue import broker_enqueue

    if stale == bool(subscription_ids):
        raise CliError("USAGE", "give SUBSCRIPTION_IDS or --stale (not both)", EXIT_USAGE)
    config = load_config()
    store = open_store(config)
    records = {sid: store.get_subscription(sid) for sid in subscription_ids}
    missing = [sid for sid, record in records.items() if record is None]
    if missing:
        raise CliError("SUBSCRIPTION_NOT_FOUND", f"no subscription {', '.join(missing)}")
    enqueue = broker_enqueue(open_broker(config))
    if stale:
        enqueued = list(enqueue_stale_renewals(store, enqueue, datetime.now(UTC)).enqueued)
    else:
        enqueued = [enqueue("renew_subscription", {"integration_id": record.integration_id,
                                                   "subscription_id": record.record_id, "force": True})
                    for record in records.values() if record is not None]

    def text() -> None:
        output.line(f"renewals enqueued: {len(enqueued)}")
        for message_id in enqueued:
            output.line(f"  {message_id}")

    output.emit({"enqueued": enqueued}, text)
