"""Switch drivers, one module per platform, chosen by the NetBox platform slug.

A platform module defines its driver class and registers it (``@register`` from ``base``); importing this package
imports every module in it, so a new vendor is one module here plus its fixtures for the conformance suite
(``tests/unit/switches/fixtures/<platform>.yaml``). The ``SwitchDriver`` protocol's docstrings are the spec.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.base import DRIVERS, DriverFactory, SwitchDriver

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

PLATFORMS = tuple(sorted(DRIVERS))
__all__ = ["DRIVERS", "PLATFORMS", "DriverFactory", "open_driver"]


def open_driver(platform: str | None, host: str, port: int, creds: SSHCredentials, name: str,
                drivers: Mapping[str, DriverFactory] = DRIVERS) -> SwitchDriver:  # fmt: skip
    """A connected driver for ``platform`` (NetBox platform slug; ``-`` and ``_`` are the same), from ``drivers``
    (the registered platform modules; tests give their own)."""
    slug = (platform or "").replace("-", "_")
    driver = drivers.get(slug)
    if driver is None:
        known = ", ".join(sorted(drivers))
        raise PermanentError(f"switch {name}", f"no driver for platform {platform!r} (known: {known})")
    return driver.open(host, port, creds, name)
