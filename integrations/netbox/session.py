"""NetBox read as the person in front of dcagent's pages: their browser's NetBox session cookie, forwarded to NetBox
and nowhere else, decides what they may see. NetBox's own login and object permissions answer, so dcagent keeps no
accounts and a page shows an object only to whoever may view it in NetBox.

The cookie reaches dcagent when the browser sends it: NetBox's cookies are per host name (not per port), so dcagent
on NetBox's host name — another port, or a path behind the same reverse proxy — receives it.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from integrations.errors import PermanentError, TransientError
from integrations.http import TimeoutSession
from integrations.netbox.base import OBJECT_TYPES, SYSTEM

# Django's session keys are 32 lowercase letters and digits; anything else is not forwarded.
SESSION_KEY = re.compile(r"^[a-z0-9]{16,128}$")


class SessionReader:
    """``read(cookie, object_type, object_id)``: the object as NetBox shows it to that session's user, or None when
    the session is not logged in, may not view the object, or it does not exist (NetBox says 404 for both)."""

    def __init__(self, url: str, cookie_name: str = "sessionid", timeout: float = 10.0, verify_tls: bool = True):
        self.url = url.rstrip("/")
        self.cookie_name = cookie_name
        self._http = TimeoutSession(timeout, verify=verify_tls, system=SYSTEM)

    def read(self, cookie: str, object_type: str, object_id: int) -> dict[str, Any] | None:
        if object_type not in OBJECT_TYPES or object_id <= 0:
            raise PermanentError(SYSTEM, f"not an object dcagent pages show: {object_type}:{object_id}")
        if not SESSION_KEY.match(cookie):
            return None
        app, endpoint = OBJECT_TYPES[object_type]
        url = f"{self.url}/api/{app}/{endpoint.replace('_', '-')}/{object_id}/"
        try:
            # No redirects: a session check answers here or not at all (a login page is not the object).
            reply = self._http.get(url, cookies={self.cookie_name: cookie}, allow_redirects=False,
                                   headers={"Accept": "application/json"})  # fmt: skip
        except requests.RequestException as e:
            raise TransientError(SYSTEM, f"session check: {type(e).__name__}") from None
        if reply.status_code in (401, 403, 404) or reply.is_redirect:  # a redirect goes to NetBox's login page
            return None
        if reply.status_code >= 500 or reply.status_code == 429:
            raise TransientError(SYSTEM, f"session check: HTTP {reply.status_code}")
        if reply.status_code != 200:
            raise PermanentError(SYSTEM, f"session check: HTTP {reply.status_code}")
        data = reply.json()
        if not isinstance(data, dict) or data.get("id") != object_id:
            raise PermanentError(SYSTEM, "session check: NetBox answered with another object")
        return data
