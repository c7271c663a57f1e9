from __future__ import annotations

import uuid

import pytest
from packaging.version import Version

from agent import clients
from agent.settings import Settings
from integrations.errors import AuthError, PermanentError
from integrations.zabbix import ZabbixClient

pytestmark = pytest.mark.smoke  # the lab answers: part of `make test-fast`


def test_zabbix_is_6_0_and_token_logs_in(settings: Settings) -> None:
    z = clients.zabbix(settings)
    version = z.version()
    assert Version("6.0") <= version < Version("6.1")
    login = z.check_login()
    assert login.username == "Admin"
    assert login.user_type == 3


def test_host_can_be_created_and_deleted(settings: Settings) -> None:
    z = clients.zabbix(settings)
    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    group = z.ensure_host_group("dcagent lab tests")
    assert z.ensure_host_group("dcagent lab tests") == group
    host_id = z.create_agent_host(name, "127.0.0.1", [group])
    try:
        assert z.host_id(name) == host_id
        with pytest.raises(PermanentError, match="already exists"):
            z.create_agent_host(name, "127.0.0.1", [group])  # API errors surface, never swallowed
    finally:
        z.delete_hosts([host_id])
    assert z.host_id(name) is None


def test_a_wrong_token_is_refused(settings: Settings) -> None:
    z = ZabbixClient(str(settings.zabbix.url), token="0" * 64, timeout=5)
    with pytest.raises(AuthError):
        z.check_login()
