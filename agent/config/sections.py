"""The sections of dcagent's settings (``[netbox]``, ``[zabbix]``, ``[backup]``…): each a frozen model whose field
descriptions document it. Loading, layering and the top-level model are in ``agent.config.settings``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from integrations.backup import Retention


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dcagent"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetBoxSettings(_Section):
    url: AnyHttpUrl
    token: SecretStr
    timeout: float = Field(10.0, gt=0, description="seconds per HTTP call")
    verify_tls: bool = True
    session_cookie: str = Field(
        "sessionid",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="NetBox's SESSION_COOKIE_NAME: a person's NetBox session opens dcagent's pages of what they "
        "may view in NetBox",
    )

    @field_validator("token")
    @classmethod
    def _token_not_empty(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v


SYNC_FILTERS = frozenset({"site", "region", "tenant", "role", "platform", "status", "tag", "rack", "cluster"})
SYNC_ACTIONS = Literal["monitored", "disabled", "deleted", "skip"]
SYNC_KINDS = Literal["device", "vm"]


def _sync_kinds() -> list[SYNC_KINDS]:
    return ["device", "vm"]


def _sync_statuses() -> dict[str, SYNC_ACTIONS]:
    return {"active": "monitored", "staged": "monitored", "planned": "skip", "offline": "disabled",
            "failed": "disabled", "decommissioning": "deleted", "inventory": "deleted"}  # fmt: skip


class ZabbixSyncSettings(_Section):
    """`dcagent sync zabbix`: which NetBox objects get a Zabbix host, and what their status means."""

    kinds: list[SYNC_KINDS] = Field(default_factory=_sync_kinds)
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description='NetBox list filters selecting what is synced, e.g. {site = ["dc-batam"]}'
    )
    statuses: dict[str, SYNC_ACTIONS] = Field(
        default_factory=_sync_statuses,
        description="NetBox status → the host monitored, disabled (history kept), deleted, or skipped (left alone)",
    )  # fmt: skip
    orphans: Literal["keep", "disable", "delete"] = Field(
        default="disable", description="the host of an object deleted from NetBox"
    )
    interval_minutes: float = Field(
        default=0.0, ge=0, le=1440, description="scheduled sync in `dcagent serve`; 0: none"
    )
    events: bool = Field(
        default=False,
        description="NetBox events update one object's host within seconds: bootstrap adds the webhook and event "
        "rule \"dcagent zabbix-sync\" (each edit of a device or VM in scope is then one delivery)",
    )  # fmt: skip

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, values in v.items():
            if key not in SYNC_FILTERS:
                raise ValueError(f"unknown filter {key!r} (known: {', '.join(sorted(SYNC_FILTERS))})")
            bad = [x for x in values if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", x)]
            if bad:
                raise ValueError(f"filter {key}: not a slug: {bad[0]!r}")
        return v


class ZabbixSettings(_Section):
    url: AnyHttpUrl = Field(description="frontend base URL; the API is URL/api_jsonrpc.php")
    token: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(10.0, gt=0)
    verify_tls: bool = True
    sender_host: str | None = Field(None, description="trapper address for the sender protocol; default: URL host")
    sender_port: int = Field(10051, ge=1, le=65535)
    cache_update_seconds: float = Field(
        60.0, ge=0, le=3600,
        description="the server's CacheUpdateFrequency: a new host is checked only after the server has seen it",
    )  # fmt: skip
    verification_template: str = Field(
        "dcagent ICMP verification", pattern=r"^[\w .-]{0,128}$",
        description="linked to a new host while dcagent verifies Zabbix reaches it (kept by bootstrap); "
                    "empty: a check-now task instead, 5-10 s slower",
    )  # fmt: skip
    sync: ZabbixSyncSettings = Field(default_factory=lambda: ZabbixSyncSettings())

    @model_validator(mode="after")
    def _some_credentials(self) -> ZabbixSettings:
        has_token = self.token is not None and self.token.get_secret_value().strip() != ""
        if not has_token and not (self.user and self.password):
            raise ValueError("set zabbix.token, or zabbix.user and zabbix.password")
        return self


class SSHSettings(_Section):
    """SSH credentials. Host keys are always verified against ``known_hosts``; unknown hosts are refused."""

    username: str
    key_file: Path | None = None
    password: SecretStr | None = None
    known_hosts: Path
    port: int = Field(22, ge=1, le=65535, description="default port when NetBox names none")
    timeout: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _some_credentials(self) -> SSHSettings:
        if self.key_file is None and self.password is None:
            raise ValueError("set key_file or password")
        return self


class DNSSettings(_Section):
    server: str = Field(description="IP address of the authoritative server accepting RFC 2136 updates")
    port: int = Field(53, ge=1, le=65535)
    zone: str
    reverse_zones: list[str] = Field(default_factory=list)
    tsig_key_name: str
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret: SecretStr
    timeout: float = Field(5.0, gt=0)


class BackupSettings(_Section):
    repository: str = Field(description="restic repository (local path, sftp:…, rest:…)")
    password: SecretStr
    staging_dir: Path = Field(default_factory=lambda: default_state_dir() / "staging")
    margin: float = Field(1.5, ge=1.0, description="the repository needs this many times the estimated size free")
    misfire_grace_time: float = Field(
        21600, gt=0, description="a run missed while dcagent was down still starts if at most this late (s)"
    )
    read_data_subset: str = Field("5%", description="restic check --read-data-subset on verification days")
    read_data_every: int = Field(7, ge=1, description="read data back on every N-th scheduled run of a device")
    bwlimit_kbps: int | None = Field(None, gt=0, description="rsync bandwidth limit per transfer")
    min_interval: float = Field(
        3600, gt=0, description="the shortest time a backup schedule may leave between two runs of a device (s)"
    )
    switch_configs_dir: Path = Field(default_factory=lambda: default_state_dir() / "switch-configs")
    switch_configs_schedule: str | None = Field("0 2 * * *", description="cron for switch config backups")
    safety_retention: str = Field(
        "within=30d", description="how long a restore's safety snapshots of a device are kept (restic forget policy)"
    )
    default_retention: str = Field(
        "daily=7 weekly=4 monthly=6",
        description="a device's backup retention when its dcagent_backup_retention is empty (restic forget policy)",
    )

    @field_validator("safety_retention", "default_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        return str(Retention.parse(value))


class MailSettings(_Section):
    host: str = Field(description="SMTP server (the office's relay)")
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = Field(False, description="upgrade to TLS with STARTTLS (the server's certificate verified)")
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(description="From: address of dcagent's notices, e.g. noc@diskominfo.example.go.id")
    timeout: float = Field(15.0, gt=0, le=300, description="seconds per SMTP exchange")
    contact_role: str = Field("teknis", description="NetBox contact role (slug) of the tenant's contacts notified")


class ClusterSettings(_Section):
    """Several `dcagent serve` on one PostgreSQL run store share requests, schedules and timers (procrastinate)."""

    enabled: bool = Field(False, description="share the work with the other agents on this run store")
    node: str | None = Field(None, pattern=r"^[0-9A-Za-z_.-]{1,64}$", description="this agent's name; default hostname")
    stalled_seconds: float = Field(
        30.0, ge=10, le=3600, description="an agent silent this long is taken for dead: its runs go to another"
    )
    sweep_seconds: int = Field(10, ge=1, le=60, description="how often due schedules and stalled runs are looked at")
