"""exchangelib's session pool shrinks on ErrorServerBusy without deadlocking its worker process.

exchangelib 5.6's BaseProtocol.decrease_poolsize holds `_session_pool_lock` while it takes a
session with get_session; with every session in use, get_session calls increase_poolsize, which
takes the same non-reentrant lock, and the thread (then every thread of the process) waits for
ever. The chaos benchmark's RabbitMQ workers stopped that way after its ErrorServerBusy storm.
"""

from __future__ import annotations

import threading

from exchangelib import Configuration, Credentials, FailFast
from exchangelib.protocol import BaseProtocol, Protocol

import pipeline.exchange.ews.server_busy  # noqa: F401  (installs the fix, as the pipeline's EWS code does)


def protocol_with_every_session_in_use(pool_size: int = 2) -> tuple[Protocol, list[object]]:
    config = Configuration(
        service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx",  # nothing is sent
        credentials=Credentials("user", "password"), auth_type="basic", retry_policy=FailFast(),
        max_connections=pool_size,
    )
    protocol = Protocol(config=config)
    sessions = [protocol.get_session() for _ in range(pool_size)]
    return protocol, sessions


def test_shrinking_a_pool_whose_sessions_are_all_in_use_returns_at_once() -> None:
    protocol, sessions = protocol_with_every_session_in_use()
    done = threading.Event()

    def shrink() -> None:
        protocol.decrease_poolsize()
        done.set()

    threading.Thread(target=shrink, daemon=True).start()

    assert done.wait(5), "decrease_poolsize deadlocked on its own lock"
    assert protocol._session_pool_lock.acquire(timeout=1)  # and the lock is free for the others
    protocol._session_pool_lock.release()
    for session in sessions:
        protocol.release_session(session)


def test_an_idle_session_is_closed_and_the_pool_shrinks_by_one() -> None:
    protocol, sessions = protocol_with_every_session_in_use()
    protocol.release_session(sessions.pop())
    size = protocol._session_pool_size

    protocol.decrease_poolsize()

    assert protocol._session_pool_size == size - 1
    assert BaseProtocol.decrease_poolsize.__module__ == "pipeline.exchange.ews.server_busy"
    for session in sessions:
        protocol.release_session(session)
