"""dcagent settings: environment (``DCAGENT_…``), ``…_FILE`` secret files, and a TOML config file.

Precedence, highest first: environment variable, ``DCAGENT_…_FILE`` secret file, config file, default.
Nested keys use ``__`` in the environment: ``netbox.token`` is ``DCAGENT_NETBOX__TOKEN`` (or
``DCAGENT_NETBOX__TOKEN_FILE=/run/secrets/netbox-token``).

Errors are reported as one line that names the key and where its value came from (:class:`SettingsError`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from agent.config.sections import (
    BackupSettings,
    ClusterSettings,
    DNSSettings,
    MailSettings,
    NetBoxSettings,
    SSHSettings,
    ZabbixSettings,
    ZabbixSyncSettings,
    default_state_dir,
)
from integrations.redact import mask_url_credentials

# The sections are defined in agent.config.sections and imported from here, with the loading.
__all__ = [
    "SECRET_MASK",
    "BackupSettings",
    "ClusterSettings",
    "DNSSettings",
    "MailSettings",
    "NetBoxSettings",
    "SSHSettings",
    "Settings",
    "SettingsError",
    "ZabbixSettings",
    "ZabbixSyncSettings",
    "config_file_path",
    "default_state_dir",
    "load_settings",
    "redacted",
]

ENV_PREFIX = "DCAGENT_"
# The tree dcagent is installed from (the folder holding the `agent` package): the shipped playbooks and template
# mapping are there, whatever folder inside `agent/` this module sits in.
SHIPPED = Path(__file__).resolve().parents[2]
NESTED = "__"
CONFIG_ENV = "DCAGENT_CONFIG"
CHAOS_PREFIX = "DCAGENT_CHAOS_"  # testing aids read by the wiring, not settings (see agent/runtime/chaos.py)


class SettingsError(Exception):
    """A setting is missing or malformed; ``str()`` is one line for people."""


class Settings(BaseSettings):
    """Everything dcagent needs to reach the systems it drives."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED, extra="forbid", frozen=True)

    netbox: NetBoxSettings
    zabbix: ZabbixSettings
    switch_ssh: SSHSettings | None = None
    server_ssh: SSHSettings | None = None
    dns: DNSSettings | None = None
    backup: BackupSettings | None = None
    mail: MailSettings | None = None
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)  # type: ignore[arg-type]
    store_url: str = Field(default_factory=lambda: f"sqlite:///{default_state_dir() / 'runs.sqlite3'}")
    reports_dir: Path = Field(default_factory=lambda: default_state_dir() / "reports")
    webhook_secret: SecretStr | None = None
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~-]+)*/?$",
        description="dcagent's address as NetBox users reach it (e.g. https://netbox.example.go.id/dcagent behind "
        "NetBox's reverse proxy): journal entries link the run's page and documents, and bootstrap adds a custom "
        "link to each request object's page",
    )
    link_secret: SecretStr | None = Field(
        None, description="signs the links to pages and documents (DCAGENT_LINK_SECRET_FILE); unset: no pages"
    )
    capacity_interval_minutes: float = Field(
        15.0, ge=0, le=1440,
        description="`serve` sends each site's capacity figures to Zabbix this often, and after every run that "
        "changes them; 0: never",
    )  # fmt: skip
    capacity_alert_percent: float = Field(10.0, ge=0, le=100, description="a free share under it is a problem")
    capacity_sites: list[str] = Field(default_factory=list, description="site slugs to watch; empty: every site")
    heartbeat_seconds: float = Field(
        60.0, ge=0, le=3600,
        description="`dcagent serve` sends a heartbeat to Zabbix this often; its trigger fires after three missed "
        "(at least 30 s); 0: none",
    )  # fmt: skip
    heartbeat_host: str | None = Field(
        None, pattern=r"^[0-9A-Za-z_.-]{1,128}$", description="this node's host in Zabbix; default dcagent-<hostname>"
    )
    link_days: float = Field(365.0, gt=0, le=3650, description="how long a link in a journal entry stays valid")
    api_token: SecretStr | None = Field(
        None, description="bearer token for GET /runs, /runs/{id} and /metrics; unset = those are refused"
    )
    webhook_url: AnyHttpUrl | None = Field(None, description="URL NetBox calls: this agent's /webhooks/netbox")
    webhook_max_bytes: int = Field(1_000_000, gt=0, description="larger webhook bodies are refused (413)")
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8090, ge=1, le=65535)
    reconcile_interval: float = Field(60.0, ge=0, description="seconds between reconciler passes; 0 = off")
    shutdown_grace: float = Field(
        10.0, ge=0, le=3600, description="seconds `serve` waits on SIGTERM for running steps to reach a boundary"
    )
    expiry_check_hours: float = Field(
        6.0, ge=0, le=168, description="hours between checks of temporary colocations (reminders, withdrawal); 0 = off"
    )
    expiry_reminder_days: list[int] = Field(
        default_factory=lambda: [30, 7], description="days before a colocation's end when the agency is reminded"
    )
    workers: int = Field(4, ge=1, le=64, description="runs executed at once")
    outage_budget: float = Field(
        600.0,
        ge=0,
        le=86400,
        description="seconds a step keeps retrying while NetBox, Zabbix, a switch or a server "
        "is unreachable, after its own attempts (a playbook's outage_budget wins)",
    )
    locale_dir: Path | None = Field(
        None,
        description="the office's own message catalogs (<dir>/<lang>/LC_MESSAGES/dcagent.po): their entries "
        "win over the shipped wording",
    )
    playbooks_dir: Path = Field(default_factory=lambda: SHIPPED / "playbooks")
    zabbix_templates: Path = Field(
        default_factory=lambda: SHIPPED / "config" / "zabbix-templates.yaml",
        description="role/platform → Zabbix templates mapping",
    )
    language: Literal["id", "en"] = "id"
    timezone: str = Field("Asia/Jakarta", description="time zone of backup schedules (cron) and documents")
    switch_roles: list[str] = Field(
        default_factory=lambda: ["tor-switch"], description="NetBox device-role slugs that are switches"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        layers = _LAYERS.get()
        return (init_settings, *(_DictSource(settings_cls, data) for _, data in layers))


# --- sources -------------------------------------------------------------------------------------------

Layer = tuple[str, dict[str, Any]]
_LAYERS: ContextVar[tuple[Layer, ...]] = ContextVar("_LAYERS", default=())


class _DictSource(PydanticBaseSettingsSource):
    """A pre-read layer; reading happens in :func:`load_settings` so every value keeps its origin."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _env_layers(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Split ``DCAGENT_*`` variables into plain values and ``*_FILE`` secrets; remember each key's variable."""
    values: dict[str, Any] = {}
    files: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or name.startswith(CHAOS_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.endswith("_file") and not key.endswith(NESTED + "key_file"):
            path = key[: -len("_file")].split(NESTED)
            try:
                secret = Path(raw).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise SettingsError(f"{name}: cannot read secret file {raw!r}: {e.strerror}") from e
            _set_path(files, path, secret)
            origin[".".join(path)] = f"file {raw} (from {name})"
        else:
            path = key.split(NESTED)
            _set_path(values, path, _parse_env_value(path, raw))
            origin[".".join(path)] = f"environment variable {name}"
    return values, files, origin


def _parse_env_value(path: list[str], raw: str) -> Any:
    # List settings (switch_roles, dns.reverse_zones, zabbix.sync.filters.<name>) are written comma-separated in the
    # environment: DCAGENT_ZABBIX__SYNC__FILTERS__SITE=dc-batam,dc-sumbawa.
    if _is_list_field(path):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _is_list_field(path: list[str]) -> bool:
    model: type[BaseModel] = Settings
    for i, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i == len(path) - 1:
            return get_origin(annotation) is list
        if get_origin(annotation) is dict and i == len(path) - 2:  # zabbix.sync.filters.site: a dict of lists
            return get_origin(get_args(annotation)[1]) is list
        inner = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif inner:
            model = inner[0]
        else:
            return False
    return False


def _toml_layer(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SettingsError(f"config file {path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"config file {path}: not valid TOML: {e}") from e
    origin: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            dotted = f"{prefix}{k}"
            origin[dotted] = f"config file {path}"
            if isinstance(v, Mapping):
                walk(v, dotted + ".")

    walk(data, "")
    return data, origin


def config_file_path(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: ``--config``, else ``$DCAGENT_CONFIG``, else the first default that exists."""
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    for candidate in (Path.home() / ".config" / "dcagent" / "dcagent.toml", Path("/etc/dcagent/dcagent.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from every source; raise :class:`SettingsError` with one line naming key and source."""
    env = os.environ if environ is None else environ
    path = config_file_path(config_file, env)
    values, files, origin = _env_layers(env)
    layers: list[Layer] = [("environment", values), ("secret files", files)]
    if path is not None:
        toml_data, toml_origin = _toml_layer(path)
        layers.append(("config file", toml_data))
        origin = {**toml_origin, **origin}
    token = _LAYERS.set(tuple(layers))
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the layers
    except ValidationError as e:
        raise SettingsError(_describe(e, origin, path)) from e
    finally:
        _LAYERS.reset(token)


def _describe(error: ValidationError, origin: Mapping[str, str], path: Path | None) -> str:
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"] if not str(p).startswith(("function-", "union["))]
    # pydantic puts model-level checks on the section itself; the key is then the section.
    key = ".".join(p for p in loc if p not in {"AnyHttpUrl", "SSHSettings"}) or "settings"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    if first["type"] == "missing":
        key = _first_required(key)
        env_name = ENV_PREFIX + key.upper().replace(".", NESTED)
        where = f"config file {path}" if path else "a config file (--config or DCAGENT_CONFIG)"
        return f"setting {key} is missing: set {env_name} or {key} in {where}{more}"
    if first["type"] == "extra_forbidden":
        return f"unknown setting {key} in {_origin_of(key, origin)}{more}"
    msg = first["msg"].removeprefix("Value error, ")
    return f"setting {key} from {_origin_of(key, origin)}: {msg}{more}"


def _first_required(key: str) -> str:
    """A whole missing section is reported by its first required key (``netbox`` → ``netbox.url``)."""
    field = Settings.model_fields.get(key)
    section = field.annotation if field is not None else None
    if isinstance(section, type) and issubclass(section, BaseModel):
        required = [name for name, f in section.model_fields.items() if f.is_required()]
        if required:
            return f"{key}.{required[0]}"
    return key


def _origin_of(key: str, origin: Mapping[str, str]) -> str:
    parts = key.split(".")
    while parts:
        if ".".join(parts) in origin:
            return origin[".".join(parts)]
        parts.pop()
    return "defaults"


SECRET_MASK = "***"  # noqa: S105 - the mask, not a secret


def redacted(settings: Settings) -> dict[str, Any]:
    """Effective settings as plain data with every secret replaced by ``***``."""

    def scrub(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return SECRET_MASK
        if isinstance(value, BaseModel):
            return {name: scrub(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, str):
            return mask_url_credentials(value)  # a rest:/sftp: repository URL may carry a password
        if value is None or isinstance(value, int | float | bool):
            return value
        return mask_url_credentials(str(value))

    result: dict[str, Any] = scrub(settings)
    # A database URL may carry a password; SQLAlchemy knows how to hide it.
    result["store_url"] = make_url(settings.store_url).render_as_string(hide_password=True)
    return result
