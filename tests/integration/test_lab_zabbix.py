from __future__ import annotations

import uuid

import pytest
from packaging.version import Version

from agent.config import clients
from agent.config.settings import Settings
from integrations.errors import AuthError, PermanentError
from integrations.zabbix import HostSpec, ZabbixClient

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


def test_an_adopted_host_is_put_back_exactly_as_it_was(settings: Settings) -> None:
    """A host made by hand (its own group, template, tag, macro, inventory, agent address) adopted by a colocation
    for the same name, then undone: Zabbix holds what it held before, read back field by field."""
    z = clients.zabbix(settings)
    name = f"lab-adopt-{uuid.uuid4().hex[:8]}"
    own_group = z.ensure_host_group("dcagent lab tests")
    templates = z.template_ids(("Zabbix agent",))
    host_id = str(z.call("host.create", {
        "host": name, "name": f"{name} by hand", "groups": [{"groupid": own_group}],
        "templates": [{"templateid": t} for t in templates], "tags": [{"tag": "owner", "value": "ops"}],
        "macros": [{"macro": "{$OWNER}", "value": "ops"}], "inventory_mode": 0, "inventory": {"location": "old"},
        "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.9", "dns": "", "port": "10050"}],
    })["hostids"][0])  # fmt: skip
    select = {"hostids": [host_id], "output": ["host", "name", "inventory_mode"], "selectTags": ["tag", "value"],
              "selectGroups": ["groupid"], "selectParentTemplates": ["templateid"], "selectMacros": ["macro", "value"],
              "selectInventory": ["location", "serialno_a"], "selectInterfaces": ["ip", "useip", "port", "main"],
              "selectItems": "count"}  # fmt: skip
    try:
        before_state = z.call("host.get", select)
        recorded: dict[str, object] = {}
        spec = HostSpec(host=name, name=f"{name} (Dinkes)", ip="127.10.0.77", groups=("Site/dc-batam",),
                        templates=("ICMP Ping",), tags=(("netbox_id", "999999"),), inventory={"location": "R01 U5"},
                        macros=(("{$NETBOX.DEVICE.ID}", "999999"),), identity=("netbox_id", "999999"),
                        created_by="run-adopt")  # fmt: skip
        found, created = z.upsert_host(spec, lambda _id, before: recorded.update(before))
        assert (found, created) == (host_id, False) and recorded
        adopted = z.call("host.get", select)[0]
        assert len(adopted["parentTemplates"]) == 2 and adopted["interfaces"][0]["ip"] == "127.10.0.77"
        z.restore_host(host_id, dict(recorded))
        assert z.call("host.get", select) == before_state
    finally:
        z.delete_hosts([host_id])
