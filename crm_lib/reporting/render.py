"""Render an executed notebook to HTML for reviewers: code hidden, errors visible."""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"

FAILED_BANNER = ("<div style='border:2px solid #922b21;background:#fdedec;padding:10px;margin:8px 0'>"
                 "<b>This notebook failed.</b> The output below stops at the failing cell, whose error is shown; "
                 "the pack's other notebooks ran independently. Data scientists: open the executed "
                 "<code>.ipynb</code> beside this page.</div>")


def render_html(ipynb: str | Path, html: str | Path, failed: bool = False) -> Path:
    """Write ``html`` from the executed notebook ``ipynb`` with input cells hidden."""
    nb = nbformat.read(str(ipynb), as_version=4)
    if failed:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(FAILED_BANNER))
    exporter = HTMLExporter(template_file=str(TEMPLATE), exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(ipynb).stem}})
    Path(html).write_text(body, encoding="utf-8")
    logger.debug("rendered %s", html)
    return Path(html)
