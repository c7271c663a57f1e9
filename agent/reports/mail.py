"""Notices by e-mail from templates an office can edit (``templates/mail/<name>.<lang>.txt.j2``): the first line is
``Subject: …``, then a blank line, then the body. Plain text, so nothing is escaped; a missing value is an error,
never an empty gap in a letter to an agency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("templates") / "mail"
# Escaping is for HTML; these are plain-text (.txt.j2) and stay as written.
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, keep_trailing_newline=True)  # fmt: skip


def render_mail(name: str, language: str, **context: Any) -> tuple[str, str]:
    """(subject, body) of notice ``name`` in ``language`` ("id" or "en")."""
    text = _env.get_template(f"{name}.{language}.txt.j2").render(**context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"mail template {name}.{language}: the first line must be 'Subject: …'")
    return " ".join(head[len("Subject: ") :].split()), body.strip() + "\n"
