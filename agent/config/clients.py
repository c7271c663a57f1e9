"""Build integration clients from settings: the one place where secrets are unwrapped."""

from __future__ import annotations

from agent.config.settings import DNSSettings, MailSettings, Settings, SSHSettings
from integrations.backup import ResticRepository
from integrations.dns import DNSClient
from integrations.mail import Mailer
from integrations.netbox import NetBoxClient
from integrations.ssh import SSHCredentials
from integrations.zabbix import ZabbixClient


def netbox(s: Settings) -> NetBoxClient:
    return NetBoxClient(str(s.netbox.url), s.netbox.token.get_secret_value(), s.netbox.timeout, s.netbox.verify_tls)


def zabbix(s: Settings) -> ZabbixClient:
    z = s.zabbix
    return ZabbixClient(
        str(z.url),
        token=z.token.get_secret_value() if z.token else None,
        user=z.user,
        password=z.password.get_secret_value() if z.password else None,
        timeout=z.timeout,
        verify_tls=z.verify_tls,
    )


def ssh_credentials(ssh: SSHSettings) -> SSHCredentials:
    return SSHCredentials(
        username=ssh.username,
        known_hosts=ssh.known_hosts,
        key_file=ssh.key_file,
        password=ssh.password.get_secret_value() if ssh.password else None,
        timeout=ssh.timeout,
    )


def mailer(m: MailSettings) -> Mailer:
    return Mailer(m.host, m.port, m.sender, timeout=m.timeout, starttls=m.starttls, username=m.username,
                  password=m.password.get_secret_value() if m.password else None)  # fmt: skip


def dns(d: DNSSettings) -> DNSClient:
    return DNSClient(d.server, d.port, d.tsig_key_name, d.tsig_secret.get_secret_value(), d.tsig_algorithm, d.timeout)


def restic(s: Settings) -> ResticRepository | None:
    if s.backup is None:
        return None
    return ResticRepository(s.backup.repository, s.backup.password.get_secret_value(), timeout=120)
