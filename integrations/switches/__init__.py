"""Switch drivers, one module per platform, chosen by the NetBox platform slug."""

from __future__ import annotations

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.arista_eos import AristaEosDriver
from integrations.switches.base import SwitchDriver
from integrations.switches.cisco_ios import CiscoIosDriver
from integrations.switches.ovs_linux import OvsLinuxDriver

DRIVERS: dict[str, type[OvsLinuxDriver] | type[CiscoIosDriver] | type[AristaEosDriver]] = {
    "ovs_linux": OvsLinuxDriver,
    "cisco_ios": CiscoIosDriver,
    "arista_eos": AristaEosDriver,
}
PLATFORMS = tuple(DRIVERS)


def open_driver(platform: str | None, host: str, port: int, creds: SSHCredentials, name: str) -> SwitchDriver:
    """A connected driver for ``platform`` (NetBox platform slug; ``-`` and ``_`` are the same)."""
    slug = (platform or "").replace("-", "_")
    driver = DRIVERS.get(slug)
    if driver is None:
        raise PermanentError(f"switch {name}", f"no driver for platform {platform!r} (known: {', '.join(PLATFORMS)})")
    return driver.open(host, port, creds, name)
