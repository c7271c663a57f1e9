from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.redact import mask_url_credentials


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
