"""Official documents the SOPs ask for, rendered from Jinja2 templates to HTML and PDF (WeasyPrint)."""
