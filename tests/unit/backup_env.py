"""The settings environment of the backup and restore unit tests: NetBox, Zabbix and a backup section, no lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.config.settings import load_settings
from agent.steps.services import Services


def backup_services(tmp_path: Path, scheduler: Any = None, **extra: str) -> Services:
    """Services over settings with a backup section whose staging directory is ``tmp_path/staging``."""
    environ = {
        "DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
        "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
        "DCAGENT_BACKUP__REPOSITORY": "/repo", "DCAGENT_BACKUP__PASSWORD": "x",
        "DCAGENT_BACKUP__STAGING_DIR": str(tmp_path / "staging"), **extra,
    }  # fmt: skip
    return Services(load_settings(None, environ=environ), scheduler)
