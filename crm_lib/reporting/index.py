"""``reports/index.html``: every profile and period, status, links and headline KPI trends."""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path

import pandas as pd

from crm_lib.reporting.facts import load_facts

logger = logging.getLogger(__name__)

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1b2631;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d5d8dc}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{padding:4px 10px;border-bottom:1px solid #eaeded;text-align:left}
.ok{background:#d5f5e3;color:#145a32;padding:1px 8px;border-radius:8px}
.failed{background:#fadbd8;color:#78281f;padding:1px 8px;border-radius:8px}
.unknown{background:#eaeded;padding:1px 8px;border-radius:8px}
img{max-width:100%} .muted{color:#707b7c;font-size:12px}
"""


def _trends(packs: list[Path]) -> pd.DataFrame:
    rows = []
    for pack in packs:
        for f in load_facts(pack / "facts.json"):
            if f.get("headline") and isinstance(f.get("value"), (int, float)):
                rows.append({"name": f["name"], "period": pack.name, "value": f["value"], "unit": f.get("unit", ""),
                             "ci_lower": f.get("ci_lower"), "ci_upper": f.get("ci_upper")})
    return pd.DataFrame(rows)


def build_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.html`` (and its KPI figures) from the published packs."""
    from crm_lib import plots

    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    files = root / "index_files"
    files.mkdir(exist_ok=True)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>CRM report packs</title>",
             f"<style>{CSS}</style></head><body><h1>CRM report packs</h1>",
             "<p class='muted'>Every profile and period built so far, newest first. Status is <i>failed</i> when a "
             "notebook failed; its page shows the error. Headline KPIs per period below each profile "
             "(shaded: confidence interval where the KPI has one).</p>"]
    profiles = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "index_files")
    if not profiles:
        parts.append("<p>No packs yet: run <code>crm-workbench run quarterly</code>.</p>")
    for prof in profiles:
        packs = sorted(p for p in prof.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not packs:
            continue
        parts.append(f"<h2 id='{html.escape(prof.name)}'>{html.escape(prof.name.capitalize())}</h2>")
        trends = _trends(packs)
        if len(trends):
            fig = plots.kpi_small_multiples(trends)
            img = files / f"{prof.name}_kpis.png"
            tmp = img.with_suffix(".tmp.png")
            fig.savefig(tmp, dpi=90, bbox_inches="tight")
            os.replace(tmp, img)
            parts.append(f"<img src='index_files/{img.name}' alt='Headline KPI trends, {html.escape(prof.name)}'>")
        parts.append("<table><tr><th>period</th><th>status</th><th>notebooks</th><th>finished (UTC)</th>"
                     "<th>duration</th><th>files</th></tr>")
        for pack in reversed(packs):
            m = pack / "manifest.json"
            info = json.loads(m.read_text()) if m.exists() else {}
            status = info.get("status", "unknown")
            links = []
            for nb in info.get("notebooks", []):
                rel = f"{prof.name}/{pack.name}/{nb['name']}.html"
                cls = "" if nb["status"] == "ok" else " class='failed'"
                if (root / rel).exists():
                    links.append(f"<a href='{html.escape(rel)}'{cls}>{html.escape(nb['name'])}</a>")
                else:
                    links.append(f"<span class='failed'>{html.escape(nb['name'])}</span>")
            extra = " · ".join(f"<a href='{prof.name}/{pack.name}/{f}'>{f}</a>"
                               for f in ("facts.json", "manifest.json", "run.log") if (pack / f).exists())
            secs = info.get("seconds")
            parts.append(f"<tr><td><b>{html.escape(pack.name)}</b></td><td><span class='{status}'>{status}</span></td>"
                         f"<td>{' · '.join(links)}</td><td>{html.escape(str(info.get('finished', ''))[:19])}</td>"
                         f"<td>{'' if secs is None else f'{secs:.0f}s'}</td><td class='muted'>{extra}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    out = root / "index.html"
    tmp = root / ".index.html.tmp"
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, out)
    logger.info("index rebuilt: %s", out)
    return out
