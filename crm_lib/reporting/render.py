"""Render an executed notebook to HTML for reviewers: code hidden, errors visible, no script.

Values from a bank's data are escaped where the narratives put them into Markdown
(``crm_lib.fmt``); as defence in depth, every Markdown cell and every HTML or Markdown output is
sanitised here with nh3 (the Ammonia allow-list: no ``<script>``, no event handler, no
``javascript:`` URL survives), keeping tables, ``<style>`` for styled tables, ``class``/``id``/
``style`` attributes and links.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat
import nh3
from nbconvert import HTMLExporter

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"

FAILED_BANNER = ("<div style='border:2px solid #922b21;background:#fdedec;padding:10px;margin:8px 0'>"
                 "<b>This notebook failed.</b> The output below stops at the failing cell, whose error is shown; "
                 "the pack's other notebooks ran independently. Data scientists: open the executed "
                 "<code>.ipynb</code> beside this page.</div>")


_TAGS = set(nh3.ALLOWED_TAGS) | {"style"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = _ATTRIBUTES.get("*", set()) | {"class", "id", "style", "title"}


def sanitise(fragment: str) -> str:
    """``fragment`` (HTML) with scripts, event handlers and unsafe URLs removed."""
    return nh3.clean(fragment, tags=_TAGS, clean_content_tags={"script"}, attributes=_ATTRIBUTES)


def render_html(ipynb: str | Path, html: str | Path, failed: bool = False) -> Path:
    """Write ``html`` from the executed notebook ``ipynb`` with input cells hidden."""
    nb = nbformat.read(str(ipynb), as_version=4)
    if failed:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(FAILED_BANNER))
    exporter = HTMLExporter(template_file=str(TEMPLATE), exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, sanitize_html=True, filters={"clean_html": sanitise})
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(ipynb).stem}})
    Path(html).write_text(body, encoding="utf-8")
    logger.debug("rendered %s", html)
    return Path(html)
