"""Bulk writes that survive a slow NetBox or Zabbix: chunks sized by measured latency, and a timed-out chunk read
back before anything is sent again.

Measured on the lab (issue 35): right after the whole suite, NetBox answered a bulk PATCH of 500 devices' custom
field in more than 60 s (each object is a changelog row and an event-rule evaluation), the call timed out, and the
sync failed although most rows had landed. A timeout says nothing about the write: NetBox may have committed it. So
the rows of a timed-out chunk are read back; only those not as written are sent again, in smaller chunks. Zabbix's
bulk writes (integrations.zabbix.inventory) pace their chunks the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from integrations.errors import TransientError


@dataclass
class Pace:
    """The next chunk's size: as many rows as the last call's seconds per row fit in ``target`` seconds, between 1
    and ``largest``; after a timeout, what the failed call's lower bound on latency fits, at most a quarter. It
    never more than doubles at once, so one fast call after slow ones does not send a chunk that times out again.
    ``clock`` and ``sleep`` are the caller's (``sleep`` cancellable: integrations.cancel.pause)."""

    target: float
    largest: int
    size: int = 0
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def __post_init__(self) -> None:
        self.size = self.size or self.largest

    def took(self, rows: int, seconds: float) -> None:
        if rows <= 0:
            return
        fits = int(self.target / max(seconds / rows, 1e-6))
        self.size = max(1, min(self.largest, fits, self.size * 2))

    def timed_out(self, rows: int, seconds: float) -> None:
        # The call took at least ``seconds`` for ``rows``: no more rows than that rate fits in the target, and at
        # most a quarter of the chunk that failed.
        fits = int(self.target / max(seconds / max(rows, 1), 1e-6))
        self.size = max(1, min(max(rows, 1) // 4, fits))


@dataclass(frozen=True)
class BulkOutcome:
    calls: int  # write calls made, those that timed out included
    reads: int  # read-backs after a timeout
    resent: int  # rows sent again because the read-back did not find them as written


def write_in_chunks[Row](
    rows: Sequence[Row],
    send: Callable[[list[Row]], None],
    landed: Callable[[list[Row]], list[Row]] | None,
    pace: Pace,
    max_timeouts: int = 6,
) -> BulkOutcome:
    """Send ``rows`` in chunks of ``pace.size``. A chunk that fails transiently (a timeout, a 5xx) is read back with
    ``landed`` (the rows of it the system has as written) once the system has had time to finish it; the others go
    back to the front of the queue (``landed`` None: a write that is safe to send twice, sent again whole). After
    ``max_timeouts`` failures in a row with nothing landed, the last error is raised: the system is down, not slow
    (0: a write that is neither safe to repeat nor readable back raises its first error)."""
    pending = list(rows)
    calls = reads = resent = failures = 0
    while pending:
        chunk = pending[: pace.size]
        started = pace.clock()
        calls += 1
        try:
            send(chunk)
        except TransientError:
            failures += 1
            if failures > max_timeouts:
                raise
            pace.timed_out(len(chunk), pace.clock() - started)
            there, looked = _settled(chunk, landed, pace, max_timeouts) if landed is not None else ([], 0)
            reads += looked
            failures = 0 if there else failures  # progress: slow, not down
            missing = [r for r in chunk if r not in there]
            resent += len(missing)
            pending = missing + pending[len(chunk) :]
            continue
        failures = 0
        pace.took(len(chunk), pace.clock() - started)
        pending = pending[len(chunk) :]
    return BulkOutcome(calls, reads, resent)


def _settled[Row](chunk: list[Row], landed: Callable[[list[Row]], list[Row]], pace: Pace, tries: int
                  ) -> tuple[list[Row], int]:  # fmt: skip
    """What of a timed-out ``chunk`` landed, read once the system has stopped applying it. The request may still be
    running when the client gives up (the server commits after the client left): the chunk is read after a pause,
    and again after another while the answer still grows; a read that fails is tried again, up to ``tries``."""
    there: list[Row] | None = None
    reads, error = 0, None
    for _ in range(tries):
        pace.sleep(2 * pace.target)
        reads += 1
        try:
            now = landed(chunk)
        except TransientError as e:
            error = e
            continue
        if (there is not None and len(now) <= len(there)) or len(now) == len(chunk):
            return now, reads
        there = now
    if there is None:
        assert error is not None
        raise error
    return there, reads
