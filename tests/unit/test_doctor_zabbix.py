"""`dcagent doctor` names whether Zabbix has the verification template (decision 0015): a missing one is no failure
(verification asks a check-now instead) but the operator is told to run bootstrap. Recorded answers, real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.setup.doctor import check_zabbix
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
