"""``reports/index.html``: every profile and period, status, links and headline KPI trends."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import jinja2
import pandas as pd

from crm_lib.reporting import fsafe
from crm_lib.reporting.facts import load_facts

logger = logging.getLogger(__name__)

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1b2631;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d5d8dc}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{padding:4px 10px;border-bottom:1px solid #eaeded;text-align:left}
.ok{background:#d5f5e3;color:#145a32;padding:1px 8px;border-radius:8px}
.failed{background:#fadbd8;color:#78281f;padding:1px 8px;border-radius:8px}
.unknown{background:#eaeded;padding:1px 8px;border-radius:8px}
.partial{background:#fdebd0;color:#7e5109;padding:1px 8px;border-radius:8px;font-size:12px}
img{max-width:100%} .muted{color:#707b7c;font-size:12px}
"""
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)


def _trends(packs: list[Path]) -> pd.DataFrame:
    rows = []
    for pack in packs:
        for f in load_facts(pack / "facts.json"):
            if f.get("headline") and isinstance(f.get("value"), (int, float)):
                rows.append({"name": f["name"], "period": pack.name, "value": f["value"], "unit": f.get("unit", ""),
                             "ci_lower": f.get("ci_lower"), "ci_upper": f.get("ci_upper")})
    return pd.DataFrame(rows)


_STATUS_CLASSES = {"ok", "failed", "unknown"}


def _href(*parts: str) -> str:
    """A relative link from URL-quoted path parts (a name is never markup nor a path escape)."""
    return "/".join(quote(str(p), safe="") for p in parts)


def _omitted(nb: dict) -> list[str]:
    """Sections a notebook ran without (not estimable on this data), as ``section: reason`` lines."""
    out = []
    for o in nb.get("omitted") or []:
        out.append(f"{o.get('section', '')}: {o.get('reason', '')}" if isinstance(o, dict) else str(o))
    return out


def _pack_row(root: Path, prof: str, pack: Path) -> dict:
    m = pack / "manifest.json"
    try:
        info = json.loads(m.read_text()) if m.exists() else {}
    except (OSError, ValueError):
        info = {}
    status = str(info.get("status", "unknown"))
    notebooks = []
    for nb in info.get("notebooks", []):
        name = str(nb.get("name", ""))
        page = root / prof / pack.name / f"{name}.html"
        omitted = _omitted(nb)
        note = note_class = note_title = ""
        if nb.get("status") == "not_run":
            note, note_class, note_title = "not run", "unknown", str(nb.get("reason", ""))
        elif omitted:
            note, note_class = f"{len(omitted)} section(s) omitted", "partial"
            note_title = "; ".join(omitted)
        notebooks.append({"name": name, "failed": nb.get("status") not in ("ok", "not_run"),
                          "href": _href(prof, pack.name, f"{name}.html") if page.is_file() and not page.is_symlink() else "",
                          "note": note, "note_class": note_class, "note_title": note_title})
    secs = info.get("seconds")
    return {"name": pack.name, "status": status, "status_class": status if status in _STATUS_CLASSES else "unknown",
            "notebooks": notebooks, "finished": str(info.get("finished", ""))[:19],
            "duration": "" if not isinstance(secs, (int, float)) else f"{secs:.0f}s",
            "files": [{"name": f, "href": _href(prof, pack.name, f)}
                      for f in ("facts.json", "manifest.json", "run.log") if (pack / f).is_file()]}


def build_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.html`` (and its KPI figures) from the published packs.

    The page comes from an autoescaping Jinja2 template; every write stays inside
    ``reports_dir`` and refuses to follow a symlink (``crm_lib.reporting.fsafe``).
    """
    from crm_lib import plots

    root = fsafe.makedirs(reports_dir, ".")
    fsafe.makedirs(root, "index_files")
    profiles = sorted(p for p in root.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name != "index_files")
    shown = []
    for prof in profiles:
        packs = sorted(p for p in prof.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
        if not packs:
            continue
        figure = ""
        trends = _trends(packs)
        if len(trends):
            fig = plots.kpi_small_multiples(trends)
            name = f"{fsafe_name(prof.name)}_kpis.png"
            with fsafe.atomic_open(root, Path("index_files") / name, "wb") as fh:
                fig.savefig(fh, format="png", dpi=90, bbox_inches="tight")
            figure = _href("index_files", name)
        shown.append({"name": prof.name, "title": prof.name.capitalize(), "anchor": prof.name, "figure": figure,
                      "packs": [_pack_row(root, prof.name, pack) for pack in reversed(packs)]})
    page = _ENV.get_template("index.html.j2").render(css=CSS, profiles=shown)
    out = fsafe.write_text(root, "index.html", page)
    logger.info("index rebuilt: %s", out)
    return out


def fsafe_name(name: str) -> str:
    """A file-name-safe form of a folder name (letters, digits, ``_`` and ``-``)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in name)
