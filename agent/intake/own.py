"""dcagent's own writes come back as webhook events: while a run works on the object, there is nothing in them.

A run's every NetBox write on its request object (a tag, the placement, the primary IP, the status) fires the event
rule; each event would cost the intake a re-read of the object, more for a status change (the decisions are read
again) — about a third of a colocation's NetBox calls. An event whose signed body names dcagent's own NetBox user as
the author, on an object a run is active on, is answered and dropped. A person's change still comes with its own
event (its own author): an edit after the approval still voids the run. dcagent's NetBox user must be its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent.engine.registry import ObjectRef
from integrations.errors import IntegrationError

log = logging.getLogger("dcagent.intake")
RETRY_SECONDS = 60.0  # NetBox unreachable: ask who we are again at most this often (meanwhile nothing is dropped)


class OwnChanges:
    def __init__(self, whoami: Callable[[], str], busy: Callable[[ObjectRef], bool],
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._whoami, self._busy, self._monotonic = whoami, busy, monotonic
        self._me: str | None = None
        self._asked = -RETRY_SECONDS
        self._lock = threading.Lock()

    def _name(self) -> str | None:
        with self._lock:
            if self._me is None and self._monotonic() - self._asked >= RETRY_SECONDS:
                self._asked = self._monotonic()
                try:
                    self._me = self._whoami() or None
                except IntegrationError as e:  # unknown for now: nothing is dropped
                    log.warning("cannot tell dcagent's own NetBox user", extra={"error": str(e)})
            return self._me

    def __call__(self, object_type: str, object_id: int, username: str | None) -> bool:
        """True: the event is dcagent's own change on an object a run is active on."""
        if not username:
            return False
        me = self._name()
        return me is not None and username == me and self._busy(ObjectRef(object_type, object_id))
