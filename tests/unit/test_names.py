"""Names that reach other systems: FQDNs (a host name inside the managed zone) and device names (one rule for
Zabbix, the switch port, DNS and restic), by example and by property."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import agent.steps  # noqa: F401  (registers the steps)
from agent.config.sections import ZabbixSyncSettings
from agent.config.settings import load_settings
from agent.domain.names import MAX_LABEL, MAX_NAME, fqdn_problem, name_problem, normalise_fqdn, zabbix_host_refusal
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import request  # noqa: F401  (registers validate_request)
from agent.steps.monitoring import object_host
from agent.steps.services import Services
from agent.zabbix.sync import plan_sync
from integrations.netbox.inventory import MonitoredObject
from integrations.switches.base import sanitize_description

ZONE = "dc.lab"
label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")


@pytest.mark.parametrize(
    ("fqdn", "problem"),
    [("simpeg.dc.lab", None), ("a.b-c.dc.lab", None), ("x1.dc.lab", None),
     ("", "empty"), ("*.dc.lab", "wildcard"), ("a.*.dc.lab", "wildcard"), ("dc.lab", "apex"),
     ("simpeg.example.org", "outside"), ("evildc.lab", "outside"), ("lab", "outside"),
     ("-web.dc.lab", "label"), ("web-.dc.lab", "label"), ("a..dc.lab", "label"), ("a" * 64 + ".dc.lab", "label"),
     ("web_01.dc.lab", "characters"), ("web 01.dc.lab", "characters"), ("wéb.dc.lab", "characters"),
     ("web\n.dc.lab", "characters"), (("a" * 60 + ".") * 5 + "dc.lab", "length")],
)  # fmt: skip
def test_examples(fqdn: str, problem: str | None) -> None:
    assert fqdn_problem(fqdn, ZONE) == problem


def test_normalise_strips_root_dot_blanks_and_case() -> None:
    assert normalise_fqdn("  SimPeg.DC.lab. ") == "simpeg.dc.lab"
    assert normalise_fqdn(None) == ""
    assert fqdn_problem(normalise_fqdn("WWW.dc.lab."), "dc.lab.") is None


@given(st.lists(label, min_size=1, max_size=4))
def test_any_host_of_valid_labels_inside_the_zone_is_accepted(labels: list[str]) -> None:
    fqdn = ".".join([*labels, ZONE])
    assert fqdn_problem(fqdn, ZONE) == (None if len(fqdn) <= MAX_NAME else "length")


@given(st.lists(label, min_size=1, max_size=3), st.sampled_from(["example.org", "lab", "dc.lab.example", "c.lab"]))
def test_no_name_outside_the_zone_is_accepted(labels: list[str], other: str) -> None:
    assert fqdn_problem(".".join([*labels, other]), ZONE) is not None


@given(st.text(min_size=1, max_size=40), st.lists(label, max_size=2))
def test_a_name_with_any_other_character_is_refused(text: str, labels: list[str]) -> None:
    allowed = set(string.ascii_lowercase + string.digits + ".-")
    fqdn = ".".join([*labels, text, ZONE])
    if set(text) - allowed:
        assert fqdn_problem(fqdn, ZONE) is not None


@given(st.lists(label, max_size=3))
def test_a_wildcard_anywhere_is_refused(labels: list[str]) -> None:
    assert fqdn_problem(".".join(["*", *labels, ZONE]), ZONE) == "wildcard"


# --- a device's name: one rule for every system it reaches (issue 30 #6) ----------------------------------------


device_name = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,40}[A-Za-z0-9])?\Z")


@pytest.mark.parametrize(
    ("name", "problem"),
    [("srv-disdik-09", None), ("accA-server-n-d9f0", None), ("X", None), ("a" * MAX_LABEL, None),
     ("", "empty"), ("accA-sérvér-ñ-d9f0", "characters"), ("web_01", None), ("web 01", "characters"),
     ("db.prod", None), ("SRV_DISDIK_01", None), ("srv;reload", "characters"), ("srv/../x", "characters"),
     ("-srv", "edge"), ("srv-", "edge"), (".srv", "edge"), ("srv_", "edge"),
     ("a" * (MAX_LABEL + 1), "length")],
)  # fmt: skip
def test_device_name_examples(name: str, problem: str | None) -> None:
    assert name_problem(name) == problem


def _monitored(name: str) -> MonitoredObject:
    return MonitoredObject(kind="device", id=7, name=name, status="active", site="dc-batam", tenant="Dinkes",
                           role="server", platform="linux", ip="10.0.0.7")  # fmt: skip


@given(device_name)
def test_a_name_the_rule_accepts_reaches_every_system_unchanged(name: str) -> None:
    assert name_problem(name) is None
    assert object_host(_monitored(name), ()).host == name  # Zabbix's technical host name: lookups by name find it
    assert sanitize_description(f"{name} Dinkes").split(" ")[0] == name  # the switch port's description


@given(
    st.one_of(
        st.text(min_size=1, max_size=30),  # any text: mostly refused
        st.text(st.sampled_from(string.ascii_letters + string.digits + " ._-" + "éñ\u00a0\t\n*/:;@"), max_size=30),
        st.text(st.sampled_from(string.ascii_letters + string.digits + " ._-"), min_size=120, max_size=136),
    )
)
def test_a_name_zabbix_would_change_is_never_transliterated(name: str) -> None:
    # Zabbix's technical host name, written out apart from the rule under test: 1 to 128 of ASCII letters, digits,
    # space, dot, dash and underscore, and no blank at either end (Zabbix would trim it: the name would change).
    takes = set(string.ascii_letters + string.digits + " ._-")
    as_is = 1 <= len(name) <= 128 and set(name) <= takes and not name.startswith(" ") and not name.endswith(" ")
    assert (zabbix_host_refusal(name) is None) == as_is, name
    if name_problem(name) is None:  # a request's stricter rule: whatever it accepts, Zabbix takes as it is
        assert as_is, name
    if zabbix_host_refusal(name) is not None:
        with pytest.raises(StepInputError):
            object_host(_monitored(name), ())
    else:  # a request's name passed the stricter rule; the sync's objects may keep what Zabbix takes as is
        assert object_host(_monitored(name), ()).host == name


def test_validation_rejects_a_name_another_system_would_change_in_indonesian() -> None:
    approved = {"object": {"object_type": "dcim.device", "id": 7, "name": "accA-sérvér-ñ-d9f0", "status": "planned",
                           "tags": [], "custom_fields": {}, "site": "dc-batam"}}  # fmt: skip
    ctx = StepContext(
        run_id="r",
        playbook="colocation",
        step="validate_request",
        request=ObjectRef("dcim.device", 7),
        outputs={},
        services=None,
        locks=None,
        clock=None,
        approved=approved,
    )  # type: ignore[arg-type]
    result = REGISTRY.get("validate_request").run(ctx)
    assert result.outcome == "rejected", result
    [reason] = result.reasons
    assert "accA-sérvér-ñ-d9f0" in reason and "huruf" in reason and "tanda hubung" in reason, reason
    # `dcagent plan` says so too: its validation line is a reject, and the plan ends there (exit 3)
    plan = REGISTRY.get("validate_request").run_plan(ctx)
    assert [(c.action, c.detail) for c in plan] == [("reject", reason)]


def test_the_zabbix_sync_skips_a_name_the_rule_refuses_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "templates.yaml").write_text("default: []\n")
    objects = [_monitored("accA-sérvér-ñ-d9f0"), _monitored("srv-ok").model_copy(update={"id": 8}),
               _monitored("srv_app.01").model_copy(update={"id": 9})]  # fmt: skip
    changes = plan_sync(objects, [], ZabbixSyncSettings(), tmp_path / "templates.yaml", {})
    assert [(c.action, c.host) for c in changes] == [
        ("skip", "accA-sérvér-ñ-d9f0"), ("create", "srv-ok"), ("create", "srv_app.01")]  # fmt: skip
    assert "accA-sérvér-ñ-d9f0" not in {c.spec.host for c in changes if c.spec is not None}


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


class _NetBox:
    def ssh_endpoint(self, device_id: int) -> tuple[str | None, int | None]:
        return "127.0.2.1", 2222


def test_a_backup_request_is_rejected_for_a_name_restic_and_zabbix_would_not_share(tmp_path: Path) -> None:
    """The backup's restic --host and the Zabbix host its results go to are the device's name: the same rule."""
    environ = {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
               "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
               "DCAGENT_BACKUP__REPOSITORY": "/repo", "DCAGENT_BACKUP__PASSWORD": "x",
               "DCAGENT_BACKUP__STAGING_DIR": str(tmp_path / "staging")}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["netbox"] = _NetBox()
    fields = {"dcagent_backup_paths": "/srv/app", "dcagent_backup_schedule": "0 1 * * *",
              "dcagent_backup_retention": "daily=7"}  # fmt: skip
    results = {}
    for name in ("srv-7", "accA-sérvér-ñ-d9f0"):
        device = {"object_type": "dcim.device", "id": 7, "name": name, "status": "active", "tags": ["sop-backup"],
                  "custom_fields": fields}  # fmt: skip
        ctx = StepContext(run_id="run-b", playbook="backup", step="validate_backup_request",
                          request=ObjectRef("dcim.device", 7), outputs={}, services=svc, locks=InProcessLocks(),
                          clock=_Clock(), approved={"object": device})  # fmt: skip
        results[name] = REGISTRY.get("validate_backup_request").run(ctx)
    assert results["srv-7"].outcome == "ok", results["srv-7"]
    refused = results["accA-sérvér-ñ-d9f0"]
    assert refused.outcome == "rejected" and any("nama perangkat" in r for r in refused.reasons), refused
