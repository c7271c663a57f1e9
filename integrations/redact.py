"""Credentials inside URLs (``rest:https://user:password@host/``, ``sftp://user:pw@host``) never reach a person.

Everything that shows a configured location — ``dcagent config``, ``doctor``, plans, errors from the tools that
echo it back — passes it through :func:`mask_url_credentials` first.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@ — the password part (anything up to the last "@" before the host) is replaced.
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^ \t\r\n:/@]*:)(?P<secret>[^ \t\r\n/@]*)(?=@)", re.IGNORECASE)


def mask_url_credentials(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _USERINFO.sub(lambda m: m.group("head") + MASK, text)
