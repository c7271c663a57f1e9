"""requests plumbing shared by HTTP adapters: a session whose every call has a timeout."""

from __future__ import annotations

from typing import Any

import requests

from integrations.metrics import count_call


class TimeoutSession(requests.Session):
    """A session that never waits forever: every request gets ``timeout`` unless the caller sets one."""

    def __init__(self, timeout: float, verify: bool = True, system: str = "http") -> None:
        super().__init__()
        self.system = system
        self.default_timeout = timeout
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        count_call(self.system)
        return super().request(method, url, *args, **kwargs)
