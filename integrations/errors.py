"""One error hierarchy for every outside system, split by whether a retry can help.

Adapters translate library errors at the seam (``raise TransientError(...) from e``) so that nothing above
``integrations`` ever sees a pynetbox, requests, paramiko or zabbix_utils exception.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """An outside system refused or failed. ``system`` names it for people ("NetBox", "Zabbix", …)."""

    retryable: bool = False
    # The system itself is unreachable or failing (not this request): the engine waits such an outage out for up to
    # its outage budget, beyond a step's own attempts.
    outage: bool = False

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message


class TransientError(IntegrationError):
    """Connection refused, timeout, HTTP 5xx/429: the same call may succeed later."""

    retryable = True
    outage = True


class PermanentError(IntegrationError):
    """Bad request, refused credentials, unknown object, unverified host key: retrying cannot help."""


class AuthError(PermanentError):
    """Credentials were refused or lack a needed right."""


class HostKeyError(PermanentError):
    """An SSH host key is unknown or does not match known_hosts (never auto-accepted)."""


class VersionError(PermanentError):
    """The outside system runs a version dcagent does not support."""


class ConflictError(PermanentError):
    """The system refused because the resource is taken or exhausted (HTTP 409): a capacity answer, not a bug."""
