from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import paramiko
import pytest

from agent.config import clients
from agent.config.settings import Settings
from integrations.dns import DNSClient, reverse_name
from integrations.errors import AuthError, HostKeyError
from integrations.ssh import SSHCredentials, probe
from tests.integration.helpers import BACKUP_SERVER

pytestmark = pytest.mark.smoke  # the lab answers: part of `make test-fast`


def server() -> tuple[str, int]:
    host, port = os.environ["LAB_SERVER_SSH"].split(":")
    return host, int(port)


@pytest.mark.xdist_group(BACKUP_SERVER)
def test_server_ssh_with_verified_host_key(settings: Settings, lab_dir: Path) -> None:
    assert settings.server_ssh is not None
    host, port = server()
    result = probe("server", host, port, clients.ssh_credentials(settings.server_ssh))
    expected = paramiko.Ed25519Key(filename=str(lab_dir / "ssh/server/host_ed25519")).fingerprint
    assert result.fingerprint == expected


@pytest.mark.xdist_group(BACKUP_SERVER)
def test_server_with_unknown_host_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    assert settings.server_ssh is not None
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    creds = SSHCredentials(username="colo", known_hosts=empty, key_file=settings.server_ssh.key_file, timeout=5)
    host, port = server()
    with pytest.raises(HostKeyError, match="not in known_hosts"):
        probe("server", host, port, creds)


@pytest.mark.xdist_group(BACKUP_SERVER)
def test_server_with_changed_host_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    assert settings.server_ssh is not None
    host, port = server()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    pub = (tmp_path / "k.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[{host}]:{port} {pub[0]} {pub[1]}\n")
    creds = SSHCredentials(
        username="colo", known_hosts=tmp_path / "known_hosts", key_file=settings.server_ssh.key_file, timeout=5
    )
    with pytest.raises(HostKeyError, match="does not match"):
        probe("server", host, port, creds)


def test_rfc2136_update_is_served(settings: Settings) -> None:
    assert settings.dns is not None
    d = clients.dns(settings.dns)
    name = f"lab-{uuid.uuid4().hex[:8]}.{settings.dns.zone}."
    d.replace_record(settings.dns.zone, name, "A", "127.10.0.99")
    try:
        assert d.lookup(name, "A") == ["127.10.0.99"]
        d.replace_record(settings.dns.zone, name, "A", "127.10.0.98")  # replace, not add
        assert d.lookup(name, "A") == ["127.10.0.98"]
        ptr = reverse_name("127.10.0.98")
        d.replace_record(settings.dns.reverse_zones[0], ptr, "PTR", name)
        assert d.lookup(ptr, "PTR") == [name]
        d.delete_record(settings.dns.reverse_zones[0], ptr, "PTR")
    finally:
        d.delete_record(settings.dns.zone, name, "A")
    assert d.lookup(name, "A") == []


def test_update_with_wrong_tsig_secret_is_refused(settings: Settings) -> None:
    assert settings.dns is not None
    bad = DNSClient(settings.dns.server, settings.dns.port, settings.dns.tsig_key_name, "d3JvbmcgYnV0IGJhc2U2NA==")
    with pytest.raises(AuthError):
        bad.replace_record(settings.dns.zone, f"x.{settings.dns.zone}.", "A", "127.10.0.97")
    assert bad.lookup(f"x.{settings.dns.zone}.", "A") == []


@pytest.mark.xdist_group(BACKUP_SERVER)
def test_restic_repository_is_usable(settings: Settings) -> None:
    repo = clients.restic(settings)
    assert repo is not None
    status = repo.status()
    assert status.version >= 1 and len(status.repository_id) == 16
