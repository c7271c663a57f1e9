"""A loopback HTTP server replaying recorded Zabbix JSON-RPC answers.

zabbix_utils talks through urllib, which `responses` cannot intercept; faking at the transport seam here
means a real socket and real HTTP, answered from files recorded against the lab's Zabbix 6.0.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "recorded" / "zabbix"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return data


@contextmanager
def replay(answers: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve ``answers`` (method → recorded body, or a list of bodies for successive calls); yield the URL and the
    list of requests received. An answer ``{"http": 504}`` is that HTTP status with no body (a proxy in front of a
    Zabbix that took too long)."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"body": body, "headers": dict(self.headers)})
            planned = answers[body["method"]]
            if isinstance(planned, list):  # successive answers to successive calls; the last one repeats
                planned = planned.pop(0) if len(planned) > 1 else planned[0]
            if "http" in planned:
                self.send_response(int(planned["http"]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = dict(planned, id=body["id"])
            raw = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
