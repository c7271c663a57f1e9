"""NetBox's ``X-Hook-Signature``: hex HMAC-SHA512 of the raw body with the shared secret."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time comparison; a missing or malformed header is simply invalid."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip().lower())
