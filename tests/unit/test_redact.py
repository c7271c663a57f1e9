from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.logs import setup_logging
from integrations.redact import mask_url_credentials
from integrations.zabbix import ZabbixClient
from tests.unit.jsonrpc_replay import recorded, replay


@pytest.mark.parametrize(
    ("text", "shown"),
    [("rest:https://backup:s3cr3t@restic.dc.lab:8000/kominfo", "rest:https://backup:***@restic.dc.lab:8000/kominfo"),
     ("sftp://colo:pw@10.0.0.5//srv/restic", "sftp://colo:***@10.0.0.5//srv/restic"),
     ("Fatal: cannot open rest:http://u:p%40ss@h/: 401", "Fatal: cannot open rest:http://u:***@h/: 401"),
     ("/var/lib/restic", "/var/lib/restic"), ("sftp:colo@host:/srv", "sftp:colo@host:/srv"),
     ("https://netbox.example.go.id/api/", "https://netbox.example.go.id/api/")],
)  # fmt: skip
def test_examples(text: str, shown: str) -> None:
    assert mask_url_credentials(text) == shown


password = st.text(alphabet=st.characters(blacklist_characters="/@ \t\n\r", blacklist_categories=("Cs",)),
                   min_size=4, max_size=30)  # fmt: skip


@given(password, st.sampled_from(["rest:https", "https", "sftp", "s3:http"]))
def test_no_password_survives(secret: str, scheme: str) -> None:
    shown = mask_url_credentials(f"repository {scheme}://backup:{secret}@restic.dc.lab:8000/repo failed")
    assert f":{secret}@" not in shown and "backup:***@restic.dc.lab" in shown


# --- no fragment of a secret in any log, even at DEBUG (issue 30 #9) ---------------------------------------------

TOKEN = "QkX7e1b9c3d5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3fWvJ"


def test_the_zabbix_token_leaves_no_fragment_in_the_debug_log(capsys: pytest.CaptureFixture[str]) -> None:
    """zabbix_utils logs every request body at DEBUG with the token masked to its first and last characters (a
    quarter of a 32-character secret); dcagent's own timing line is all that may be logged of a call."""
    answers = {"apiinfo.version": recorded("apiinfo.version"),
               "user.checkAuthentication": recorded("user.checkAuthentication"),
               "hostgroup.get": recorded("hostgroup.get")}  # fmt: skip
    setup_logging("DEBUG")
    try:
        with replay(answers) as (url, _seen):
            client = ZabbixClient(url, token=TOKEN)
            client.check_login()
            client.call("hostgroup.get", {"output": ["groupid"]})
    finally:
        setup_logging("WARNING")
    logged = capsys.readouterr().err
    assert '"call": "hostgroup.get"' in logged  # the log was at DEBUG and captured
    fragments = {TOKEN[:4], TOKEN[-4:], TOKEN[4:12]}
    assert not [f for f in fragments if f in logged], logged[:2000]
