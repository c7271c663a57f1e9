"""Signed, expiring links to a run's page and documents, for the people who work in NetBox: a journal entry carries
the link, dcagent's page checks it. The secret never leaves dcagent; a link names one path and its expiry, and a
changed path or a later expiry breaks its signature."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

DOCUMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}\.(pdf|html)$")  # what a run's reports directory holds


def signature(secret: str, path: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_path(secret: str, path: str, expires: int) -> str:
    """``path`` (from the server's root) with its expiry and signature as query parameters."""
    return f"{quote(path)}?exp={expires}&sig={signature(secret, path, expires)}"


def valid(secret: str, path: str, expires: str | None, sig: str | None, now: float) -> bool:
    """The link was made by this dcagent for exactly ``path`` and has not expired."""
    if not expires or not sig or not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(signature(secret, path, int(expires)), sig)


def run_path(run_id: str) -> str:
    return f"/ui/runs/{run_id}"


def document_path(run_id: str, name: str) -> str:
    return f"/ui/runs/{run_id}/documents/{name}"


def object_path(object_type: str, object_id: int) -> str:
    """An object's page: its runs and the decisions it waits for (NetBox's custom link opens it)."""
    return f"/ui/objects/{object_type}/{object_id}"
