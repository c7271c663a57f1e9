from __future__ import annotations

import uuid

import pytest
from packaging.version import Version

from agent.config import clients
from agent.config.settings import Settings
from integrations.errors import AuthError
from integrations.netbox import NetBoxClient

pytestmark = pytest.mark.smoke  # the lab answers: part of `make test-fast`


def test_netbox_reports_4_7_3_and_token_writes(settings: Settings) -> None:
    nb = clients.netbox(settings)
    status = nb.status()
    assert status.version == Version("4.7.3")
    assert status.rq_workers >= 1, "the rqworker must run for webhooks and event rules"
    rights = nb.token_rights()
    assert rights.username == "admin"
    assert rights.write_enabled


def test_token_can_create_and_delete_an_object(settings: Settings) -> None:
    nb = clients.netbox(settings)
    slug = f"lab-test-{uuid.uuid4().hex[:8]}"
    tag = nb.ensure_tag(slug, slug, description="integration test")
    assert tag.slug == slug
    assert nb.ensure_tag(slug, slug).id == tag.id  # idempotent: found, not created twice
    assert nb.delete_tag(slug) is True
    assert nb.delete_tag(slug) is False


def test_a_wrong_token_is_refused(settings: Settings) -> None:
    nb = NetBoxClient(str(settings.netbox.url), "nbt_wrongkey.wrongsecret", timeout=5)
    with pytest.raises(AuthError):
        nb.token_rights()


def test_switches_are_listed_with_address_and_ssh_port(
    settings: Settings, lab_switches: list[tuple[str, str, int]]
) -> None:
    found = {s.name: s for s in clients.netbox(settings).switches(settings.switch_roles)}
    for name, address, port in lab_switches:
        assert found[name].host == address
        assert found[name].ssh_port == port
        assert found[name].platform == "ovs_linux"
