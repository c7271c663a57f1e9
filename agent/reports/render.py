"""Render a document to ``<reports_dir>/<run_id>/<name>.html`` and ``.pdf``; secrets never reach a template."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent.i18n import Language, catalog, t

TEMPLATES = Path(__file__).with_name("templates")
log = logging.getLogger("dcagent.reports")
_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
)

DOC = "doc."  # the documents' labels in the message catalogs: an office corrects their wording there


def labels(language: Language) -> dict[str, str]:
    """A document's fixed words (titles, row labels, signature lines) in ``language``, from the catalogs."""
    return {key[len(DOC) :]: t(key, language) for key in catalog("en") if key.startswith(DOC)}


def page(template: str, language: Language, **context: Any) -> str:
    """An HTML page (not a document: no PDF) from the same templates and labels."""
    return _env.get_template(template).render(**context, L=labels(language), lang=language)


def render(template: str, out_dir: Path, name: str, context: dict[str, Any], language: Language) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    html = _env.get_template(template).render(**context, L=labels(language), lang=language)
    html_path = out_dir / f"{name}.html"
    html_path.write_text(html, encoding="utf-8")
    from weasyprint import HTML  # imported late: it loads fonts and takes ~1 s

    pdf_path = out_dir / f"{name}.pdf"
    document = HTML(string=html, base_url=str(out_dir)).render()
    if wide := overflowing(document):  # laid out once: the check costs nothing more than the PDF itself
        log.warning("document wider than its page", extra={"document": name, "boxes": wide[:5]})
    document.write_pdf(pdf_path)
    return html_path, pdf_path


def overflowing(document: Any) -> list[str]:
    """What sticks out past a page's right margin in a laid-out WeasyPrint document (a table a long word widened):
    the layout check a person would do by looking at the page."""
    wide: list[str] = []
    for number, page in enumerate(document.pages, start=1):
        box = page._page_box  # WeasyPrint's laid-out page; no public API exposes box geometry
        limit = box.content_box_x() + box.width + 0.5
        for child in _descendants(box):
            if child is not box and child.position_x + child.margin_width() > limit:
                text = getattr(child, "text", None) or type(child).__name__
                wide.append(f"page {number}: {text[:60]}")
    return wide


def _descendants(box: Any) -> Any:
    yield box
    for child in getattr(box, "children", None) or ():
        yield from _descendants(child)


def warm_up() -> None:
    """Load WeasyPrint and its fonts now (~1.2 s on the lab), not in the first request's report: a long-running agent
    calls this once at start, in the background."""
    try:
        from weasyprint import HTML

        HTML(string="<html><body style='font-family: DejaVu Sans'><p>dcagent</p></body></html>").write_pdf()
    except Exception as e:  # only a head start: the first report loads it (and says what is wrong) if this fails
        logging.getLogger("dcagent.reports").warning("PDF warm-up failed", extra={"error": str(e)})
