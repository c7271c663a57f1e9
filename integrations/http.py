"""requests plumbing shared by HTTP adapters: a session whose every call has a timeout."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from integrations.cancel import check
from integrations.metrics import count_call

log = logging.getLogger("dcagent.api")


class TimeoutSession(requests.Session):
    """A session that never waits forever: every request gets ``timeout`` unless the caller sets one."""

    def __init__(self, timeout: float, verify: bool = True, system: str = "http") -> None:
        super().__init__()
        self.system = system
        # A pooled keep-alive connection the server has just closed fails with "Remote end closed connection";
        # idempotent methods are retried for that (POST never is: it may have been applied).
        idempotent = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
        retry = Retry(total=2, connect=2, read=2, status=0, backoff_factor=0.2, allowed_methods=idempotent)
        for scheme in ("http://", "https://"):
            self.mount(scheme, HTTPAdapter(max_retries=retry))
        self.default_timeout = timeout
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        check(self.system)  # a cancelled step's next call is not sent
        count_call(self.system)
        started = time.monotonic()
        try:
            return super().request(method, url, *args, **kwargs)
        finally:  # the path only: where the time goes, per call, without query values
            path = urlsplit(url.decode() if isinstance(url, bytes) else url).path
            verb = method.decode() if isinstance(method, bytes) else method
            log.debug("api call", extra={"system": self.system, "call": f"{verb} {path}",
                                         "ms": round((time.monotonic() - started) * 1000)})  # fmt: skip
