"""``reports/index.html``: every profile and period, status, links and headline KPI trends."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import jinja2
import pandas as pd

from crm_lib import fmt, i18n, kpis
from crm_lib.errors import EnvironmentFault
from crm_lib.reporting import fsafe
from crm_lib.reporting.facts import load_facts
from crm_lib.reporting.runner import BUILT_FACTS_ONLY

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
.headline{width:100%} .headline td{vertical-align:middle} .headline .num{white-space:nowrap}
.headline img{width:144px;height:36px;display:block}
.sig{font-weight:bold} .better{color:#145a32} .worse{color:#78281f}
details{margin:6px 0} summary{cursor:pointer;font-weight:bold;font-size:14px;margin:6px 0}
"""
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"])


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


def _word(text) -> str:
    """A word or name the catalogue may hold, in the index's language; empty stays empty."""
    text = str(text)
    return i18n.gettext(text) if text else text


def _omitted(nb: dict) -> list[str]:
    """Sections a notebook ran without (not estimable on this data), as ``section: reason`` lines
    (the section's name in the index's language; the reason as the notebook recorded it)."""
    out = []
    for o in nb.get("omitted") or []:
        out.append(i18n.gettext("{section}: {reason}").format(section=_word(o.get("section", "")),
                                                              reason=o.get("reason", ""))
                   if isinstance(o, dict) else str(o))
    return out


# a pack's and a notebook's statuses (the runner's manifest), translated where the index shows them
_PACK_STATUS_WORDS = (i18n.N_("ok"), i18n.N_("failed"), i18n.N_("unknown"))


def _pack_row(root: Path, prof: str, pack: Path) -> dict:
    m = pack / "manifest.json"
    try:
        info = json.loads(m.read_text()) if m.exists() else {}
    except (OSError, ValueError):
        info = {}
    status = str(info.get("status", "unknown"))
    facts_only = info.get("built") == BUILT_FACTS_ONLY   # crm-workbench backfill: facts and trend points, no pages
    notebooks = []
    for nb in info.get("notebooks", []):
        name = str(nb.get("name", ""))
        page = root / prof / pack.name / f"{name}.html"
        omitted = _omitted(nb)
        note = note_class = note_title = ""
        not_run = nb.get("status") in ("not run", "not_run")   # its needs are not met by the source
        if not_run:
            note = (i18n.gettext("not run: {reason}").format(reason=nb.get("reason")) if nb.get("reason")
                    else i18n.gettext("not run"))
            note_class = "unknown"
            note_title = str(nb.get("reason", ""))
        elif facts_only and nb.get("status") == "ok":
            not_run = True   # no page to link, and not a failure
            note, note_class = i18n.gettext("facts only"), "unknown"
            note_title = i18n.gettext("built by crm-workbench backfill: the notebook's code ran and recorded its "
                                      "facts; no page")
        elif omitted:
            note, note_class = i18n.gettext("{count} section(s) omitted").format(count=len(omitted)), "partial"
            note_title = "; ".join(omitted)
        notebooks.append({"name": name, "failed": nb.get("status") != "ok" and not not_run, "not_run": not_run,
                          "href": _href(prof, pack.name, f"{name}.html") if page.is_file() and not page.is_symlink() else "",
                          "note": note, "note_class": note_class, "note_title": note_title})
    secs = info.get("seconds")
    shown = _word(status) + (" · " + i18n.gettext("facts only") if facts_only else "")
    return {"name": pack.name, "status": shown,
            "status_class": status if status in _STATUS_CLASSES else "unknown",
            "notebooks": notebooks, "finished": str(info.get("finished", ""))[:19],
            "duration": "" if not isinstance(secs, (int, float)) else i18n.gettext("{seconds}s").format(
                seconds=f"{secs:.0f}"),
            "files": [{"name": f, "href": _href(prof, pack.name, f)}
                      for f in ("facts.json", "manifest.json", "run.log") if (pack / f).is_file()]}


# --------------------------------------------------------------------------- headline block

_STATUS_BADGE = {"met": "ok", "near": "partial", "missed": "failed"}
# the scorecard's statuses (crm_lib.evaluation.scorecard), translated where the index shows them
_STATUS_WORDS = (i18n.N_("met"), i18n.N_("near"), i18n.N_("missed"), i18n.N_("no target"), i18n.N_("not measured"))


def _alpha(pack: Path) -> float:
    """The significance level the pack was built with (its manifest's parameters), 0.05 if unknown."""
    try:
        a = json.loads((pack / "manifest.json").read_text()).get("parameters", {}).get("alpha")
        return float(a) if a is not None and 0 < float(a) < 1 else 0.05
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.05


def _targets() -> dict:
    """Targets from parameters/targets.yaml; none when they cannot be read (the index still builds)."""
    from crm_lib import config

    try:
        return config.load_targets(config.default_parameters_dir() / "targets.yaml")
    except Exception as e:  # noqa: BLE001 - a broken targets file must not stop the index
        logger.warning("index: targets not read (%s); statuses shown as 'no target'", e)
        return {}


def _value(x, unit) -> str:
    return fmt.by_unit(x, unit, pct_digits=1)


def _interval(r, level) -> str:
    """``95% CI 1.9%-2.3%`` at the level the fact was recorded with; ``census`` without one."""
    if fmt.missing(r.get("ci_lower")) or fmt.missing(r.get("ci_upper")):
        return i18n.gettext("census (exact)")
    lv = float(level) if not fmt.missing(level) else None
    head = fmt.ci_label(fmt.alpha_of(lv)) if lv else i18n.gettext("CI")
    return f"{head} {_value(r['ci_lower'], r['unit'])} – {_value(r['ci_upper'], r['unit'])}"


def _change(r, tag: str) -> dict:
    """A change vs an earlier period as text, its direction (better/worse) and significance."""
    c = r.get(f"change_{tag}")
    if fmt.missing(c):
        return {"text": i18n.gettext("no earlier value"), "cls": "muted", "sig": False, "title": ""}
    u = r["unit"]
    text = fmt.pp(c) if u == "proportion" else ("+" if c >= 0 else "−") + _value(abs(c), u)
    p, sig = r.get(f"p_{tag}"), bool(r.get(f"sig_{tag}"))
    if not fmt.missing(p):
        text += f" ({fmt.p_text(p)})"
    good = c == 0 or (c > 0) == (r["better"] == "higher")
    return {"text": text + (" *" if sig else ""), "cls": ("better" if good else "worse") + (" sig" if sig else ""),
            "sig": sig, "title": i18n.gettext("exact change (census)") if fmt.missing(p) else ""}


def _headline(root: Path, prof: str, packs: list[Path], targets: dict) -> dict | None:
    """The headline block of one profile: its newest pack's headline KPIs against target, the
    previous and the year-ago pack, with a sparkline each; the other KPIs grouped by area."""
    from crm_lib.config import Period
    from crm_lib.evaluation import report as review
    from crm_lib.evaluation.scorecard import NOT_MEASURED, facts_frame, history, period_facts, scorecard
    from crm_lib.plots.index import sparkline

    latest = packs[-1]
    try:
        per = Period.parse(latest.name)
    except Exception:  # noqa: BLE001 - a folder that is not a period label has no headline
        return None
    alpha = _alpha(latest)
    cur = period_facts(root, prof, per)
    cur = cur if cur is not None else facts_frame([])
    prev, yoy = period_facts(root, prof, per.previous()), period_facts(root, prof, per.year_ago())
    card = review.headline_card(cur, prev, yoy, targets, alpha=alpha)
    hist = history(root, prof, per, n=9, current=cur)
    rows = []
    for name, r in card.iterrows():
        k = kpis.get(name)
        measured = r["status"] != NOT_MEASURED
        row = {"name": name, "label": i18n.kpi_label(name), "definition": i18n.gettext(k.definition),
               "measured": measured,
               "value": _value(r["value"], r["unit"]) if measured else i18n.gettext(NOT_MEASURED),
               "interval": _interval(r, cur.loc[name, "ci_level"]) if measured else "",
               "target": "" if fmt.missing(r["target"]) else _value(r["target"], k.unit),
               "status": i18n.gettext(r["status"]), "status_class": _STATUS_BADGE.get(r["status"], "unknown"),
               "prev": _change(r, "prev") if measured else None, "yoy": _change(r, "yoy") if measured else None,
               "spark": "", "points": 0}
        series = hist[(hist["name"] == name) & pd.to_numeric(hist["value"], errors="coerce").notna()]
        if len(series):
            fig = sparkline(series, (targets.get(name) or {}).get("target"))
            fname = f"{fsafe_name(prof)}_trend_{fsafe_name(name)}.png"
            with fsafe.atomic_open(root, Path("index_files") / fname, "wb") as fh:
                fig.savefig(fh, format="png", dpi=80)
            row["spark"], row["points"] = _href("index_files", fname), len(series)
            row["span"] = i18n.gettext("{start} to {end}").format(start=fmt.period(series['period'].min()),
                                                                  end=fmt.period(series['period'].max()))
        rows.append(row)
    full = scorecard(cur, prev, yoy, targets, alpha=alpha)
    areas = []
    for area, part in review.long_tail(full).items():
        areas.append({"name": _word(area), "rows": [
            {"label": i18n.kpi_label(str(name)), "measured": r["status"] != NOT_MEASURED,
             "value": _value(r["value"], r["unit"]) if r["status"] != NOT_MEASURED else i18n.gettext(NOT_MEASURED),
             "interval": _interval(r, cur.loc[name, "ci_level"]) if name in cur.index else "",
             "target": "" if fmt.missing(r["target"]) else _value(r["target"], r["unit"]),
             "status": i18n.gettext(r["status"]), "status_class": _STATUS_BADGE.get(r["status"], "unknown"),
             "prev": _change(r, "prev") if r["status"] != NOT_MEASURED else None}
            for name, r in part.iterrows()]})
    return {"period": fmt.period(per.label), "previous": fmt.period(per.previous().label),
            "year_ago": fmt.period(per.year_ago().label),
            "significance": fmt.significance(alpha), "rows": rows, "areas": areas,
            "n_sig": sum(1 for r in rows if r["measured"] and (r["prev"]["sig"] or r["yoy"]["sig"]))}


def _index_language(reports_dir: str | Path) -> tuple[str, dict | None]:
    """The index's locale and currency: those of the newest pack of the profile shown first
    (quarterly), from its manifest; English without a currency when there is none."""
    root = Path(reports_dir)
    if not root.is_dir():
        return i18n.SOURCE_LOCALE, None
    profiles = sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                       and p.name != "index_files"), key=lambda p: (p.name != "quarterly", p.name))
    for prof in profiles:
        packs = sorted(p for p in prof.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
        if packs:
            try:
                params = json.loads((packs[-1] / "manifest.json").read_text()).get("parameters") or {}
                locale = i18n.normalise(params.get("locale"))
            except (OSError, ValueError, AttributeError):
                return i18n.SOURCE_LOCALE, None
            return locale, params.get("currency")
    return i18n.SOURCE_LOCALE, None


def build_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.html`` (and its KPI figures) from the published packs.

    The page comes from an autoescaping Jinja2 template; every write stays inside
    ``reports_dir`` and refuses to follow a symlink (``crm_lib.reporting.fsafe``). Its fixed
    texts, KPI names, numbers and periods are in the language of the newest pack shown first.
    """
    lang, currency = _index_language(reports_dir)
    with i18n.using(lang, currency):
        _ENV.install_gettext_translations(i18n.translations(lang), newstyle=True)
        return _build_index(reports_dir, lang)


def _build_index(reports_dir: str | Path, lang: str) -> Path:
    from crm_lib import plots

    root = fsafe.makedirs(reports_dir, ".")
    fsafe.makedirs(root, "index_files")
    profiles = sorted(p for p in root.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name != "index_files")
    profiles.sort(key=lambda p: (p.name != "quarterly", p.name))  # the pack a head of CRM reads first
    targets = _targets()
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
        try:
            head = _headline(root, prof.name, packs, targets)
        except EnvironmentFault:
            raise  # a planted symlink or a full disk is the machine's fault: the caller reports it
        except Exception as e:  # noqa: BLE001 - the pack is published already: a bad facts file costs the block only
            if isinstance(e, OSError) and fsafe.is_environment_error(e):
                raise
            logger.warning("index: headline block of %s not built: %s: %s", prof.name, type(e).__name__, e)
            head = None
        shown.append({"name": prof.name, "title": prof.name.capitalize(), "anchor": prof.name, "figure": figure,
                      "headline": head,
                      "packs": [_pack_row(root, prof.name, pack) for pack in reversed(packs)]})
    page = _ENV.get_template("index.html.j2").render(css=CSS, profiles=shown, lang=lang.split("-")[0])
    out = fsafe.write_text(root, "index.html", page)
    logger.info("index rebuilt: %s", out)
    return out


def fsafe_name(name: str) -> str:
    """A file-name-safe form of a folder name (letters, digits, ``_`` and ``-``)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in name)
