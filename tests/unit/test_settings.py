from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.settings import Settings, SettingsError, load_settings, redacted

EXAMPLE = Path(__file__).parents[2] / "config" / "dcagent.example.toml"

MINIMAL = {
    "DCAGENT_NETBOX__URL": "http://127.0.0.1:8001",
    "DCAGENT_NETBOX__TOKEN": "nbt_abc.def",
    "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081",
    "DCAGENT_ZABBIX__TOKEN": "zbx-token",
}


def test_example_config_documents_every_key_and_loads() -> None:
    s = load_settings(EXAMPLE, environ={})
    assert str(s.netbox.url).startswith("https://netbox.example.go.id")
    assert s.dns is not None and s.dns.reverse_zones == ["10.in-addr.arpa"]
    text = EXAMPLE.read_text()
    for field in Settings.model_fields:
        assert field in text, f"{field} is not documented in the example config"


def test_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[netbox]\nurl = "http://file:1"\ntoken = "t"\n[zabbix]\nurl = "http://z"\ntoken = "z"\n')
    s = load_settings(cfg, environ={"DCAGENT_NETBOX__URL": "http://env:2"})
    assert str(s.netbox.url) == "http://env:2/"
    assert s.netbox.token.get_secret_value() == "t"


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "tok"
    secret.write_text("nbt_key.secret\n")
    env = {**MINIMAL, "DCAGENT_NETBOX__TOKEN_FILE": str(secret)}
    del env["DCAGENT_NETBOX__TOKEN"]
    s = load_settings(None, environ=env)
    assert s.netbox.token.get_secret_value() == "nbt_key.secret"


def test_key_file_is_a_path_not_a_secret_file(tmp_path: Path) -> None:
    env = {
        **MINIMAL,
        "DCAGENT_SWITCH_SSH__USERNAME": "netops",
        "DCAGENT_SWITCH_SSH__KEY_FILE": "/nonexistent/id_ed25519",
        "DCAGENT_SWITCH_SSH__KNOWN_HOSTS": "/nonexistent/known_hosts",
    }
    s = load_settings(None, environ=env)
    assert s.switch_ssh is not None and s.switch_ssh.key_file == Path("/nonexistent/id_ed25519")


def test_missing_required_names_key_and_how_to_set_it() -> None:
    env = dict(MINIMAL)
    del env["DCAGENT_NETBOX__TOKEN"]
    with pytest.raises(SettingsError) as e:
        load_settings(None, environ=env)
    assert str(e.value) == (
        "setting netbox.token is missing: set DCAGENT_NETBOX__TOKEN or netbox.token in a config file "
        "(--config or DCAGENT_CONFIG)"
    )


def test_bad_url_names_the_environment_variable() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(None, environ={**MINIMAL, "DCAGENT_NETBOX__URL": "not a url"})
    msg = str(e.value)
    assert msg.startswith("setting netbox.url from environment variable DCAGENT_NETBOX__URL:")
    assert "\n" not in msg


def test_empty_token_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"netbox.token from environment variable .*must not be empty"):
        load_settings(None, environ={**MINIMAL, "DCAGENT_NETBOX__TOKEN": "  "})


def test_unknown_key_in_config_file_names_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[netbox]\nurl = "http://n"\ntoken = "t"\ncolour = "red"\n[zabbix]\nurl = "http://z"\ntoken = "z"\n')
    with pytest.raises(SettingsError) as e:
        load_settings(cfg, environ={})
    assert str(e.value) == f"unknown setting netbox.colour in config file {cfg}"


def test_malformed_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[netbox\n")
    with pytest.raises(SettingsError, match=r"not valid TOML"):
        load_settings(cfg, environ={})


def test_unreadable_secret_file() -> None:
    env = {**MINIMAL, "DCAGENT_WEBHOOK_SECRET_FILE": "/nonexistent/secret"}
    with pytest.raises(SettingsError, match=r"DCAGENT_WEBHOOK_SECRET_FILE: cannot read secret file"):
        load_settings(None, environ=env)


def test_zabbix_needs_some_credentials() -> None:
    env = dict(MINIMAL)
    del env["DCAGENT_ZABBIX__TOKEN"]
    with pytest.raises(SettingsError, match=r"setting zabbix from defaults: set zabbix.token"):
        load_settings(None, environ=env)


def test_language_is_validated() -> None:
    with pytest.raises(SettingsError, match=r"setting language from environment variable DCAGENT_LANGUAGE"):
        load_settings(None, environ={**MINIMAL, "DCAGENT_LANGUAGE": "fr"})


def test_redacted_hides_every_secret() -> None:
    env = {
        **MINIMAL,
        "DCAGENT_WEBHOOK_SECRET": "hook-secret",
        "DCAGENT_STORE_URL": "postgresql+psycopg://dc:pgpass@db/dcagent",
        "DCAGENT_API_TOKEN": "reader-token",
        "DCAGENT_BACKUP__REPOSITORY": "rest:https://backup:restpass@restic.dc.lab:8000/kominfo",
        "DCAGENT_BACKUP__PASSWORD": "repo-password",
    }
    data = redacted(load_settings(None, environ=env))
    flat = repr(data)
    for secret in ("nbt_abc.def", "zbx-token", "hook-secret", "pgpass", "reader-token", "restpass", "repo-password"):
        assert secret not in flat
    assert data["netbox"]["token"] == "***"
    assert data["backup"]["repository"] == "rest:https://backup:***@restic.dc.lab:8000/kominfo"


def test_list_settings_from_environment_are_comma_separated() -> None:
    env = {
        **MINIMAL,
        "DCAGENT_SWITCH_ROLES": "tor-switch, core-switch",
        "DCAGENT_DNS__SERVER": "127.0.0.1",
        "DCAGENT_DNS__ZONE": "dc.lab",
        "DCAGENT_DNS__REVERSE_ZONES": "127.in-addr.arpa",
        "DCAGENT_DNS__TSIG_KEY_NAME": "k",
        "DCAGENT_DNS__TSIG_SECRET": "c2VjcmV0",
        "DCAGENT_DNS__PORT": "5353",
    }
    s = load_settings(None, environ=env)
    assert s.switch_roles == ["tor-switch", "core-switch"]
    assert s.dns is not None and s.dns.reverse_zones == ["127.in-addr.arpa"] and s.dns.port == 5353


def test_the_default_playbooks_and_template_mapping_are_the_shipped_ones() -> None:
    # A module that moves changes what Path(__file__) is: the defaults must still name the repository's files.
    s = Settings.model_validate(
        {"netbox": {"url": "http://nb", "token": "t"}, "zabbix": {"url": "http://z", "token": "t"}}
    )
    root = Path(__file__).resolve().parents[2]
    assert s.playbooks_dir == root / "playbooks" and (s.playbooks_dir / "colocation.yaml").is_file()
    assert s.zabbix_templates == root / "config" / "zabbix-templates.yaml" and s.zabbix_templates.is_file()
