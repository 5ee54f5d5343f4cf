"""A sign of life from a helper thread while a long background step runs.

Background work (web imports, ledger verifications) keeps a heartbeat on its row, and a
row whose heartbeat is older than a stale limit is taken for the work of a dead process.
Some steps report nothing for longer than that (OCR of a long scan, the database's
comparison of a large log's stored copies); `keepalive` touches the heartbeat from a
daemon thread meanwhile. The thread dies with the process, which is the point: then the
heartbeat stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections

from baomi.core.scheduler import exception_brief


@contextmanager
def keepalive(
    touch: Callable[[], object], *, what: str, interval_s: float, logger: logging.Logger
) -> Iterator[None]:
    """Call `touch` (which writes the heartbeat) every `interval_s` from a helper thread
    while the block runs. A write that fails is logged as `what` with the error's type and
    place only (a database error's text may quote values) and tried again next time."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval_s):
                try:
                    touch()
                except DatabaseError as exc:
                    logger.warning("%s: heartbeat not written: %s", what, exception_brief(exc))
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"baomi-{what.replace(' ', '-')}-heartbeat",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
