"""Switch drivers, one module per platform, chosen by the NetBox platform slug."""

from __future__ import annotations

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.base import SwitchDriver
from integrations.switches.ovs_linux import OvsLinuxDriver

PLATFORMS = ("ovs_linux",)


def open_driver(platform: str | None, host: str, port: int, creds: SSHCredentials, name: str) -> SwitchDriver:
    """A connected driver for ``platform`` (NetBox platform slug; ``-`` and ``_`` are the same)."""
    slug = (platform or "").replace("-", "_")
    if slug == "ovs_linux":
        return OvsLinuxDriver(host, port, creds, name=name)
    raise PermanentError(f"switch {name}", f"no driver for platform {platform!r} (known: {', '.join(PLATFORMS)})")
