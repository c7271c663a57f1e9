"""Zabbix 7.0 beside 6.0 in the lab (issue 35, decision 0020): dcagent's adapter talks to it when its Zabbix URL and
token file name 7.0 — one setting, as for a real installation. The lab's default (``DCAGENT_ZABBIX__*``) stays 6.0;
``lab/up`` writes 7.0's as ``LAB_ZABBIX7_URL`` and ``LAB_ZABBIX7_TOKEN_FILE``."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from typing import Any

import pytest
from packaging.version import Version

from agent.config import clients
from agent.config.settings import Settings, load_settings
from integrations.errors import AuthError
from integrations.zabbix import ZabbixClient

pytestmark = pytest.mark.smoke  # the lab answers: part of `make test-fast`; works on objects of its own only


@pytest.fixture(scope="module")
def settings7() -> Settings:
    """The lab's settings with dcagent pointed at 7.0: only the Zabbix URL and token file differ."""
    missing = [k for k in ("LAB_ZABBIX7_URL", "LAB_ZABBIX7_TOKEN_FILE") if not os.environ.get(k)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run lab/up (it starts Zabbix 7.0) and source lab/lab.env",
                    pytrace=False)  # fmt: skip
    environ = {**os.environ, "DCAGENT_ZABBIX__URL": os.environ["LAB_ZABBIX7_URL"],
               "DCAGENT_ZABBIX__TOKEN_FILE": os.environ["LAB_ZABBIX7_TOKEN_FILE"]}  # fmt: skip
    return load_settings(None, environ=environ)


def test_the_setting_names_7_0_and_the_token_logs_in(settings7: Settings, settings: Settings) -> None:
    z = clients.zabbix(settings7)
    assert Version("7.0") <= z.version() < Version("7.1")
    login = z.check_login()
    assert (login.username, login.user_type) == ("Admin", 3)
    assert z.version_at_least("7.0") and not z.version_at_least("7.2")
    assert clients.zabbix(settings).version() < Version("6.1")  # the lab's default is still 6.0


def test_the_token_travels_as_a_bearer_header(settings7: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """7.x takes the token in ``Authorization: Bearer`` (7.2 refuses the ``auth`` field 6.0 needs)."""
    sent: list[tuple[dict[str, Any], str | None]] = []
    real = urllib.request.urlopen

    def spy(req: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        body = json.loads(req.data or b"{}")  # type: ignore[arg-type]
        sent.append((body, req.get_header("Authorization")))
        return real(req, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    z = clients.zabbix(settings7)
    z.call("host.get", {"output": ["hostid"], "limit": 1})
    (body, header), *_ = [(b, h) for b, h in sent if b.get("method") == "host.get"]
    token = settings7.zabbix.token
    assert token is not None and header == f"Bearer {token.get_secret_value()}"
    assert "auth" not in body


def test_a_host_is_created_read_and_deleted_in_a_group(settings7: Settings) -> None:
    z = clients.zabbix(settings7)
    name = f"lab7-test-{uuid.uuid4().hex[:8]}"
    group = z.ensure_host_group("dcagent lab tests")
    assert z.ensure_host_group("dcagent lab tests") == group
    host_id = z.create_agent_host(name, "127.0.0.1", [group])
    try:
        assert z.host_id(name) == host_id
        # The sync's read: 7.0's parameter names (selectHostGroups, proxyid) chosen by the adapter.
        (host,) = z.hosts_where(names=[name])
        assert (host.hostid, host.groups, host.proxy) == (host_id, {"dcagent lab tests": group}, "0")
        assert host.interface is not None and host.interface["ip"] == "127.0.0.1"
    finally:
        z.delete_hosts([host_id])
    assert z.host_id(name) is None


def test_a_wrong_token_is_refused(settings7: Settings) -> None:
    z = ZabbixClient(str(settings7.zabbix.url), token="0" * 64, timeout=5)
    with pytest.raises(AuthError):
        z.check_login()
