"""`dcagent doctor` names whether Zabbix has the verification template (decision 0015): a missing one is no failure
(verification asks a check-now instead) but the operator is told to run bootstrap. It names the Zabbix version found
and what dcagent does differently for it, and refuses a version dcagent does not support (issue 35). Recorded
answers, real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.i18n import Language
from agent.setup.doctor import CheckResult, check_zabbix
from tests.unit.jsonrpc_replay import recorded, replay


def _check(template_get: dict[str, Any], name: str = "dcagent ICMP verification") -> str:
    login = recorded("user.checkAuthentication")
    answers = {"apiinfo.version": recorded("apiinfo.version"), "user.checkAuthentication": login,
               "template.get": template_get}  # fmt: skip
    with replay(answers) as (url, _):
        environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": url,
                   "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_ZABBIX__VERIFICATION_TEMPLATE": name}  # fmt: skip
        result = check_zabbix(load_settings(None, environ=environ))
    assert result.ok is True, result.detail
    return result.detail


@pytest.mark.parametrize(
    ("answer", "said"),
    [([{"templateid": "10990", "host": "dcagent ICMP verification"}], "template 'dcagent ICMP verification' present"),
     ([], "missing (run dcagent bootstrap): verification by check-now")],
)  # fmt: skip
def test_the_verification_template_is_named_present_or_missing(answer: list[Any], said: str) -> None:
    assert said in _check({"jsonrpc": "2.0", "id": 1, "result": answer})


def test_an_empty_template_setting_says_check_now_without_asking_zabbix() -> None:
    assert "verification by check-now (zabbix.verification_template is empty)" in _check({}, name="")


# user.checkAuthentication as the lab's Zabbix 7.0.9 answers it (lab/lib/zabbix7.sh), the fields dcagent reads.
LOGIN_7_0 = {"jsonrpc": "2.0", "id": 1, "result": {
    "userid": "1", "username": "Admin", "roleid": "3", "type": 3, "userip": "127.0.0.1", "deprovisioned": False,
    "mfaid": 0}}  # fmt: skip
TEMPLATE = "dcagent ICMP verification"
PRESENT = {"jsonrpc": "2.0", "id": 1, "result": [{"templateid": "10990", "host": TEMPLATE}]}


def _doctor(version: str, lang: Language = "id") -> tuple[CheckResult, list[dict[str, Any]]]:
    login = recorded("user.checkAuthentication") if version.startswith("6.") else LOGIN_7_0
    answers = {"apiinfo.version": {"jsonrpc": "2.0", "id": 1, "result": version},
               "user.checkAuthentication": login, "template.get": PRESENT}  # fmt: skip
    with replay(answers) as (url, seen):
        environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": url,
                   "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_ZABBIX__VERIFICATION_TEMPLATE": TEMPLATE}  # fmt: skip
        return check_zabbix(load_settings(None, environ=environ), lang), seen


@pytest.mark.parametrize(
    ("version", "lines", "bearer"),
    [("7.0.9", ["Zabbix 7.0.9; yang dilakukan dcagent untuk versi ini:",
                "- token API dikirim di header `Authorization: Bearer`",
                "- proxy sebuah host ditulis di `proxyid` beserta `monitored_by`; nama proxy dibaca dari field `name`",
                "- template ditaruh di grup template (`templategroup`), terpisah dari grup host",
                "- dasbor memakai grid 72 kolom, tanpa widget Data overview (dihapus di 7.0)"], True),
     ("6.0.14", ["Zabbix 6.0.14; yang dilakukan dcagent untuk versi ini:",
                 "- token API dikirim di field `auth` dalam isi permintaan",
                 "- proxy sebuah host ditulis di `proxy_hostid`; nama proxy dibaca dari field `host`",
                 "- template ditaruh di grup host (grup template baru ada sejak 6.2)",
                 "- dasbor memakai grid 24 kolom, dengan widget Data overview"], False)],
)  # fmt: skip
def test_the_version_found_is_named_with_what_dcagent_does_for_it(version: str, lines: list[str], bearer: bool) -> None:
    """One line per difference, in Bahasa Indonesia by default; the token's transport it names is the one used."""
    result, seen = _doctor(version)
    assert result.ok is True, result.detail
    first, *rest = result.detail.splitlines()
    assert first.startswith(f"version {version}; logged in as Admin (super admin); template") and rest == lines
    (template_get,) = [r for r in seen if r["body"]["method"] == "template.get"]
    assert (template_get["headers"].get("Authorization") == "Bearer z") is bearer
    assert ("auth" in template_get["body"]) is not bearer


def test_the_differences_are_in_english_when_asked() -> None:
    result, _ = _doctor("7.0.9", "en")
    said = result.detail.splitlines()
    assert said[1:3] == ["Zabbix 7.0.9; what dcagent does for this version:",
                         "- the API token goes in the `Authorization: Bearer` header"]  # fmt: skip


@pytest.mark.parametrize("version", ["5.0.40", "7.2.0", "8.0.0"])
def test_a_version_dcagent_does_not_support_is_named_before_any_login(version: str) -> None:
    result, seen = _doctor(version)
    assert result.ok is False
    assert result.detail == (f"Zabbix {version} tidak didukung: dcagent bekerja dengan Zabbix 6.0 sampai 7.0.x "
                             "(rilis terbaru yang sudah diuji)")  # fmt: skip
    assert [r["body"]["method"] for r in seen] == ["apiinfo.version"]
