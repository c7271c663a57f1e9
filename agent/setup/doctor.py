"""`dcagent doctor`: check every configured system; results are values, one failure never stops the rest."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from packaging.version import Version

from agent.config import clients
from agent.config.settings import Settings
from agent.i18n import Language, t
from integrations.errors import IntegrationError, VersionError
from integrations.netbox import MIN_VERSION as NETBOX_MIN
from integrations.netbox import SwitchRef
from integrations.redact import mask_url_credentials
from integrations.ssh import SSHCredentials, probe
from integrations.zabbix.client import BELOW as ZABBIX_BELOW
from integrations.zabbix.client import MIN_VERSION as ZABBIX_MIN
from integrations.zabbix.client import NEWEST_TESTED as ZABBIX_NEWEST
from integrations.zabbix.client import SYSTEM as ZABBIX


@dataclass(frozen=True)
class CheckResult:
    system: str
    target: str
    ok: bool | None  # None: skipped
    detail: str
    required: bool = True

    @property
    def failed(self) -> bool:
        return self.required and self.ok is False


Check = Callable[[], CheckResult]


def _guard(system: str, target: str, fn: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(system, target, True, fn())
    except IntegrationError as e:
        return CheckResult(system, target, False, e.message)
    except Exception as e:  # a doctor reports, it does not crash: anything unexpected is a failed check
        return CheckResult(system, target, False, f"{type(e).__name__}: {e}")


def check_netbox(s: Settings) -> CheckResult:
    def run() -> str:
        nb = clients.netbox(s)
        status = nb.status()
        if status.version < NETBOX_MIN:
            raise ValueError(f"version {status.version} is older than {NETBOX_MIN}")
        rights = nb.token_rights()
        if not rights.write_enabled:
            raise ValueError(f"version {status.version}; token of {rights.username} is read-only")
        workers = f", {status.rq_workers} rq worker(s)" if status.rq_workers else ", no rq worker (webhooks off)"
        try:  # the capacity check reads a site in one GraphQL request
            nb.graphql_available()
        except IntegrationError as e:
            raise ValueError(f"GraphQL API unavailable (GRAPHQL_ENABLED?): {e.message}") from e
        return f"version {status.version}; token of {rights.username} can write{workers}; GraphQL answers"

    return _guard("NetBox", str(s.netbox.url), run)


# What dcagent does differently by Zabbix version, one doctor line each: (from this version on, the message then,
# the message before). Where the code decides: the token's transport, zabbix_utils (6.4); proxy fields,
# agent/zabbix/apply.py and integrations/zabbix/inventory.py (7.0); template groups,
# integrations/zabbix/verification.py (6.2); the dashboard grid and widgets, agent/zabbix/dashboards.py (7.0).
ZABBIX_DIFFERENCES: tuple[tuple[Version, str, str], ...] = (
    (Version("6.4"), "doctor.zabbix.auth_bearer", "doctor.zabbix.auth_body"),
    (Version("7.0"), "doctor.zabbix.proxy_monitored_by", "doctor.zabbix.proxy_hostid"),
    (Version("6.2"), "doctor.zabbix.template_groups", "doctor.zabbix.host_groups"),
    (Version("7.0"), "doctor.zabbix.dashboard_72", "doctor.zabbix.dashboard_24"),
)


def zabbix_differences(version: Version, lang: Language) -> list[str]:
    """The Zabbix version found and, one line each, what dcagent does for it."""
    lines = [t(new if version >= since else old, lang) for since, new, old in ZABBIX_DIFFERENCES]
    return [t("doctor.zabbix.version", lang, version=version), *(f"- {line}" for line in lines)]


def check_zabbix(s: Settings, lang: Language = "id") -> CheckResult:
    def run() -> str:
        client = clients.zabbix(s)
        found = client.version()  # needs no login: a refused version is named before any credential is tried
        if not ZABBIX_MIN <= found < ZABBIX_BELOW:
            unsupported = t("doctor.zabbix.unsupported", lang, version=found, min=ZABBIX_MIN, newest=ZABBIX_NEWEST)
            raise VersionError(ZABBIX, unsupported)
        login = client.check_login()
        role = "super admin" if login.user_type == 3 else f"user type {login.user_type}"
        name = s.zabbix.verification_template
        if not name:
            verification = "verification by check-now (zabbix.verification_template is empty)"
        elif client.template_ids((), (name,)):
            verification = f"template {name!r} present"
        else:  # not a failure: verification asks a check-now instead, 5-10 s slower
            verification = f"template {name!r} missing (run dcagent bootstrap): verification by check-now"
        said = f"version {login.version}; logged in as {login.username} ({role}); {verification}"
        return "\n".join([said, *zabbix_differences(login.version, lang)])

    return _guard("Zabbix", str(s.zabbix.url), run)


def check_dns(s: Settings, lang: Language) -> list[CheckResult]:
    if s.dns is None:
        return [CheckResult("DNS", "-", None, t("doctor.not_configured", lang, key="dns"), required=False)]
    d = s.dns
    client = clients.dns(d)
    target = f"{d.server}:{d.port}"

    def zone(z: str) -> Check:
        def run() -> str:
            status = client.zone_status(z)
            return f"zone {status.zone}: SOA serial {status.serial}, primary {status.primary_ns}"

        return lambda: _guard("DNS", target, run)

    return [zone(z)() for z in [d.zone, *d.reverse_zones]]


def check_backup(s: Settings, lang: Language) -> CheckResult:
    repo = clients.restic(s)
    if repo is None:
        return CheckResult("Backup", "-", None, t("doctor.not_configured", lang, key="backup"), required=False)

    def run() -> str:
        st = repo.status()
        return f"restic repository {st.repository_id} (format v{st.version}), {st.snapshots} snapshot(s)"

    return _guard("Backup", mask_url_credentials(repo.repository), run)


def check_mail(s: Settings, lang: Language) -> CheckResult:
    m = s.mail
    if m is None:
        return CheckResult("Mail", "-", None, t("doctor.not_configured", lang, key="mail"), required=False)
    return _guard(
        "Mail", f"{m.host}:{m.port}", clients.mailer(m.model_copy(update={"timeout": min(m.timeout, 10)})).probe
    )


def switch_checks(s: Settings, lang: Language) -> list[Check]:
    if s.switch_ssh is None:
        skipped = CheckResult("Switch", "-", None, t("doctor.not_configured", lang, key="switch_ssh"), False)
        return [lambda: skipped]
    creds = clients.ssh_credentials(s.switch_ssh)
    try:
        switches = clients.netbox(s).switches(s.switch_roles)
    except IntegrationError as e:
        failed = CheckResult("Switch", "-", False, t("doctor.switch_unlisted", lang, reason=e.message))
        return [lambda: failed]
    if not switches:
        none = CheckResult("Switch", "-", False, t("doctor.no_switches", lang, roles=", ".join(s.switch_roles)))
        return [lambda: none]
    return [partial(_check_switch, sw, creds, s.switch_ssh.port, lang) for sw in switches]


def _check_switch(sw: SwitchRef, creds: SSHCredentials, default_port: int, lang: Language) -> CheckResult:
    if sw.host is None:
        return CheckResult("Switch", sw.name, False, t("doctor.no_address", lang))
    host, port = sw.host, sw.ssh_port or default_port

    def run() -> str:
        p = probe(f"switch {sw.name}", host, port, creds)
        return f"ssh ok, host key {p.host_key_type} {p.fingerprint} verified"

    return _guard("Switch", f"{sw.name} ({host}:{port})", run)


def run_doctor(s: Settings, lang: Language) -> list[CheckResult]:
    """Run every check, at most 8 at a time; the order of results is the order of the checks."""
    checks: list[Check] = [
        lambda: check_netbox(s),
        lambda: check_zabbix(s, lang),
        *switch_checks(s, lang),
        lambda: check_backup(s, lang),
        lambda: check_mail(s, lang),
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda c: c(), checks))
    return results[:2] + check_dns(s, lang) + results[2:]
