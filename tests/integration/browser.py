"""A person in NetBox, in Debian's Chromium driven by Playwright: logs in to NetBox, opens the device, follows the
"dcagent" custom link, reads the run's timeline and opens its PDF (issue 17). The pages are served by a real
`dcagent serve` on the lab, reached with the NetBox session the browser holds (same host name, another port)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

from tests.integration.helpers import healthy, wait_for

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
PAGES_PORT = 18095  # bench/colocation.py serves on 18093
CHROMIUM = "/usr/bin/chromium"
# As root on a closed network: no sandbox, and nothing that phones home (its refused connections slow every start).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


@contextmanager
def pages_served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`dcagent serve` with a public address on the lab's host name (its custom links made by bootstrap), no
    reconciler (other workers' requests are theirs)."""
    base = f"http://127.0.0.1:{PAGES_PORT}"
    secret = tmp_path / "link-secret"
    secret.write_text("lab-link-secret-for-the-browser-test\n")
    served = {**env, "DCAGENT_PUBLIC_URL": base, "DCAGENT_LINK_SECRET_FILE": str(secret),
              "DCAGENT_LISTEN_PORT": str(PAGES_PORT), "DCAGENT_RECONCILE_INTERVAL": "0"}  # fmt: skip
    boot = subprocess.run([*DCAGENT, "bootstrap"], env={**served, "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert boot.returncode == 0 and "dcagent dcim.device" in boot.stdout, boot.stdout + boot.stderr
    proc = subprocess.Popen([*DCAGENT, "serve"], env=served, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("dcagent serve", lambda: healthy(PAGES_PORT), timeout=30)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _login(page: Page, netbox_url: str, password: str) -> None:
    page.goto(f"{netbox_url}/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def follow_from_netbox(env: dict[str, str], lab_dir: Path, device: Any, run_id: str, base: str) -> dict[str, Any]:
    """What the person saw: the object page's text, the run page's text, the PDF's bytes. Also checks that the same
    pages refuse a request with no NetBox session."""
    for path in (f"/ui/objects/dcim.device/{device.id}", f"/ui/runs/{run_id}",
                 f"/ui/runs/{run_id}/documents/berita-acara.pdf"):  # fmt: skip
        refused = requests.get(base + path, timeout=10, allow_redirects=False)
        assert refused.status_code == 401 and device.name not in refused.text, (path, refused.status_code)
    netbox_url = env["DCAGENT_NETBOX__URL"].rstrip("/")
    password = (lab_dir / "secrets" / "netbox-admin").read_text().strip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            _login(page, netbox_url, password)
            page.goto(f"{netbox_url}/dcim/devices/{device.id}/")
            with page.expect_navigation():
                page.get_by_role("link", name="dcagent", exact=True).click()
            assert page.url == f"{base}/ui/objects/dcim.device/{device.id}", page.url
            seen: dict[str, Any] = {"object": page.inner_text("body")}
            with page.expect_navigation():
                page.locator(f'a[href="/ui/runs/{run_id}"]').click()
            seen["run"] = page.inner_text("body")
            # Chromium opens it in its PDF viewer (a download in older headless builds): the response is the PDF.
            with page.expect_response(lambda r: r.url.split("?")[0].endswith("/berita-acara.pdf")) as opened:
                page.locator("a", has_text="berita-acara.pdf").click()
            response = opened.value
            assert response.status == 200 and response.headers["content-type"] == "application/pdf", response.status
            # Its body as read here is the viewer's page; the file itself again, with the browser's cookies:
            seen["pdf"] = page.request.get(response.url).body()
            return seen
        finally:
            browser.close()
