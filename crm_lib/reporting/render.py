"""Render an executed notebook to HTML for reviewers: code hidden, errors visible, no script.

Values from a bank's data are escaped where the narratives put them into Markdown
(``crm_lib.fmt``); as defence in depth, every Markdown cell and every HTML or Markdown output is
sanitised here with nh3 (the Ammonia allow-list: no ``<script>``, no event handler, no
``javascript:`` URL survives), keeping tables, ``<style>`` for styled tables, ``class``/``id``/
``style`` attributes and links.

Notebooks are written in English. When the run's ``locale`` (its parameters, as Papermill recorded
them in the executed notebook) is another language, each Markdown cell is replaced by its
catalogue translation (``crm_lib.i18n``: one cell, one message) before rendering, and the page's
``lang`` is that locale; a cell the catalogue lacks stays English and is logged (tests/test_i18n.py
fails on it first).
"""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat
import nh3
from nbconvert import HTMLExporter

from crm_lib import i18n

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"

FAILED_BANNER_STYLE = "border:2px solid #922b21;background:#fdedec;padding:10px;margin:8px 0"
FAILED_BANNER_TEXT = i18n.N_("<b>This notebook failed.</b> The output below stops at the failing cell, whose error "
                             "is shown; the pack's other notebooks ran independently. Data scientists: open the "
                             "executed <code>.ipynb</code> beside this page.")


def failed_banner(text: str) -> str:
    """The banner above a failed notebook's page; ``text`` is ``FAILED_BANNER_TEXT`` from the catalogue
    (project markup, not data)."""
    return f"<div style='{FAILED_BANNER_STYLE}'>{text}</div>"


_TAGS = set(nh3.ALLOWED_TAGS) | {"style"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = _ATTRIBUTES.get("*", set()) | {"class", "id", "style", "title"}


def sanitise(fragment: str) -> str:
    """``fragment`` (HTML) with scripts, event handlers and unsafe URLs removed."""
    return nh3.clean(fragment, tags=_TAGS, clean_content_tags={"script"}, attributes=_ATTRIBUTES)


def run_locale(nb) -> str:
    """The locale an executed notebook ran with: its Papermill parameters' ``params.locale`` (``en`` if none)."""
    try:
        params = nb.metadata["papermill"]["parameters"].get("params") or {}
        return i18n.normalise(params.get("locale"))
    except (KeyError, AttributeError, TypeError):
        return i18n.SOURCE_LOCALE


def translate_cells(nb, locale: str) -> list[str]:
    """Replace each Markdown cell of ``nb`` by its ``locale`` translation, in place; returns the
    cells left in English (none when the catalogue is complete)."""
    untranslated = []
    if i18n.normalise(locale) == i18n.SOURCE_LOCALE:
        return untranslated
    for cell in nb.cells:
        if cell.cell_type != "markdown" or not cell.source.strip():
            continue
        out = i18n.translate_markdown(cell.source, locale)
        if out is None:
            untranslated.append(cell.source)
        else:
            cell.source = out
    return untranslated


def render_html(ipynb: str | Path, html: str | Path, failed: bool = False, locale: str | None = None) -> Path:
    """Write ``html`` from the executed notebook ``ipynb`` with input cells hidden, its prose in
    ``locale`` (default: the locale the notebook ran with)."""
    nb = nbformat.read(str(ipynb), as_version=4)
    locale = i18n.normalise(locale) if locale else run_locale(nb)
    missing = translate_cells(nb, locale)
    if missing:
        logger.warning("%s: %d Markdown cell(s) have no %s translation and stay English (first: %r); "
                       "run `make i18n-extract` and translate crm_lib/locale", Path(ipynb).name, len(missing),
                       locale, missing[0][:60])
    if failed:
        text = i18n.translations(locale).gettext(FAILED_BANNER_TEXT)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(failed_banner(text)))
    exporter = HTMLExporter(template_file=str(TEMPLATE), exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, sanitize_html=True, filters={"clean_html": sanitise},
                            language_code=locale.split("-")[0])  # <html lang>: ISO 639-1 only
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(ipynb).stem}})
    Path(html).write_text(body, encoding="utf-8")
    logger.debug("rendered %s", html)
    return Path(html)
