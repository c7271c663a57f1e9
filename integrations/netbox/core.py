"""The call core of the NetBox adapter: the pynetbox session with its deadline, error translation (a retry can help
or not), status and token rights."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pynetbox
import requests
from pynetbox.core.query import AllocationError

from integrations.cancel import pause
from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError
from integrations.http import TimeoutSession
from integrations.netbox.base import (
    SYSTEM,
    NetBoxStatus,
    TokenRights,
    _translate,
)
from integrations.versions import parse_version


class NetBoxCore:
    """The only door to NetBox. ``token`` is ``nbt_<key>.<token>`` (v2) or a legacy v1 token."""

    def __init__(
        self, url: str, token: str, timeout: float = 10.0, verify_tls: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.clock = clock  # seconds, for pacing bulk writes by their measured latency (integrations.bulk)
        # the pause before a timed-out bulk write is read back: cancellable (a cancelled step stops waiting)
        self.sleep = sleep or (lambda seconds: pause("netbox", seconds))
        self._api = pynetbox.api(self.url, token=token)
        self._api.http_session = TimeoutSession(timeout, verify=verify_tls, system="netbox")
        self._cache_lock = threading.Lock()
        self._regions: dict[str, str | None] = {}  # site slug → region slug: sites do not move between regions

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except IntegrationError:
            raise
        except (pynetbox.RequestError, pynetbox.ContentError, AllocationError, requests.RequestException) as e:
            raise _translate(e, what) from e

    def _do[T](self, what: str, fn: Callable[[], T]) -> T:
        with self._call(what):
            return fn()

    def _patch(self, endpoint: Any, object_id: int, fields: dict[str, Any], what: str) -> None:
        # One PATCH (NetBox's bulk form, a list of one), not a GET then a PATCH: a write costs 0.3-0.5 s here.
        self._do(what, lambda: endpoint.update([{"id": object_id, **fields}]))

    # -- status and rights --------------------------------------------------------------------------
    def status(self) -> NetBoxStatus:
        data: dict[str, Any] = self._do("status", self._api.status)
        return NetBoxStatus(
            version=parse_version(SYSTEM, str(data.get("netbox-version", ""))),
            python_version=str(data.get("python-version", "")),
            rq_workers=int(data.get("rq-workers-running", 0) or 0),
        )

    def _authentication_check(self) -> dict[str, Any]:
        session = self._api.http_session
        headers = {"Authorization": self._auth_header(), "Accept": "application/json"}

        def check() -> dict[str, Any]:
            resp = session.get(f"{self.url}/api/authentication-check/", headers=headers)
            if resp.status_code in (401, 403):
                raise AuthError(SYSTEM, f"token check: the token was refused (HTTP {resp.status_code})")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(SYSTEM, f"token check: HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise PermanentError(SYSTEM, f"token check: HTTP {resp.status_code}")
            result: dict[str, Any] = resp.json()
            return result

        user = self._do("token check", check)
        if user.get("id") is None:
            raise AuthError(SYSTEM, "token check: the token was refused")
        return user

    def token_rights(self) -> TokenRights:
        """Who the token belongs to and whether it may write (v2 tokens report it on the token itself)."""
        user = self._authentication_check()
        tokens = self._do("token list", lambda: list(self._api.users.tokens.filter(user_id=user["id"])))
        key = self._token_key()
        mine = [t for t in tokens if key is None or getattr(t, "key", None) == key]
        write = any(bool(getattr(t, "write_enabled", False)) for t in mine)
        return TokenRights(
            username=str(user.get("username", "")),
            is_superuser=bool(user.get("is_superuser", False)),
            write_enabled=write,
        )

    def _auth_header(self) -> str:
        token: str = self._api.token
        return f"Bearer {token}" if token.startswith("nbt_") else f"Token {token}"

    def _token_key(self) -> str | None:
        token: str = self._api.token
        if token.startswith("nbt_") and "." in token:
            return token[len("nbt_") :].split(".", 1)[0]
        return None
