"""Step titles for people, in the documents' language: what a Berita Acara and dcagent's pages list instead of code
names. A playbook step's own ``title`` wins, then the catalogs' ``step.<step name>`` (an office corrects the wording
there); a step without either is shown by its key."""

from __future__ import annotations

from agent.i18n import Language, catalog

STEP = "step."


def step_title(step_name: str, key: str, own: str | None, language: Language) -> str:
    if own:
        return own
    return catalog(language).get(STEP + step_name) or catalog("en").get(STEP + step_name) or key
