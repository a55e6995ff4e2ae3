"""One translation layer for every reviewer-facing string: gettext catalogues through Babel.

Catalogues are source files in the repository: ``crm_lib/locale/crm.pot`` (the template,
extracted by ``make i18n-extract``) and ``crm_lib/locale/<ll_CC>/LC_MESSAGES/crm.po`` per
language. The build compiles them to ``.mo`` (``make env`` runs ``python -m crm_lib.i18n
compile``; ``.mo`` files are git-ignored); a checkout whose ``.mo`` is missing or older than its
``.po`` compiles the catalogue in memory, so a fresh clone never shows English by accident.

Use::

    from crm_lib import i18n
    from crm_lib.i18n import _, ngettext, lazy

    i18n.use("zh-CN", {"code": "CNY", "symbol": "¥"})   # once per process (the notebook context does it)
    _("Customers by type and value tier")               # -> "按客户类型和价值层级划分的客户"
    ngettext("{n} alert", "{n} alerts", n).format(n=n)
    TITLE = lazy("Headline KPIs")                       # module-level constant, translated when used

What is extracted (``babel.cfg``): ``_``/``gettext``/``ngettext``/``lazy``/``N_`` calls in
``crm_lib/**.py``, the KPI registry's names and definitions (``extract_kpis``: kpis.py holds
plain data, not calls), the Jinja templates' ``_()`` calls, and every Markdown cell of the
notebooks (``extract_ipynb``: one cell, one message; translated at render time by
``crm_lib.reporting.render``). The locale also drives ``crm_lib.fmt`` (numbers, 万/亿, periods)
and the figures' CJK font (``crm_lib.plots._style``).
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from babel.support import LazyProxy, NullTranslations, Translations

from crm_lib import fmt

logger = logging.getLogger(__name__)

DOMAIN = "crm"
LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LOCALE = "en"
# BCP 47 tags a run may ask for (parameters: ``locale``); each but English has a catalogue.
SUPPORTED = ("en", "zh-CN")

_state: dict = {"locale": SOURCE_LOCALE, "currency": None, "translations": NullTranslations()}


def catalogue_name(locale: str) -> str:
    """The gettext directory name of a BCP 47 tag: ``zh-CN`` -> ``zh_CN``."""
    return str(locale).replace("-", "_")


def po_path(locale: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return Path(locale_dir) / catalogue_name(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"


def available() -> list[str]:
    """Locales with a catalogue in the source tree (``zh-CN``), plus the source language ``en``."""
    found = sorted(p.parent.parent.name.replace("_", "-") for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return [SOURCE_LOCALE] + [x for x in found if x != SOURCE_LOCALE]


# --------------------------------------------------------------------------- catalogues

def read_po(path: Path):
    """A ``.po`` file as a Babel ``Catalog``."""
    from babel.messages.pofile import read_po as _read

    with open(path, "rb") as fh:
        return _read(fh, locale=path.parent.parent.name, domain=DOMAIN)


def compile_catalogues(locale_dir: Path = LOCALE_DIR, out_dir: Path | None = None) -> list[Path]:
    """Compile every ``<ll_CC>/LC_MESSAGES/crm.po`` under ``locale_dir`` to ``.mo`` (beside it, or
    under ``out_dir`` with the same layout); what ``make env`` runs. Fuzzy entries are left out,
    as ``pybabel compile`` does. Returns the written files.

    Raises
    ------
    ValueError
        When a catalogue has errors (e.g. a placeholder missing from a translation).
    """
    from babel.messages.mofile import write_mo

    written = []
    for po in sorted(Path(locale_dir).glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        cat = read_po(po)
        errors = check_catalogue(cat)
        if errors:
            raise ValueError(f"{po}: {len(errors)} error(s) in the catalogue, e.g. {errors[0]}")
        rel = po.relative_to(locale_dir).with_suffix(".mo")
        mo = (Path(out_dir) / rel) if out_dir else po.with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        write_mo(buf, cat, use_fuzzy=False)
        mo.write_bytes(buf.getvalue())
        written.append(mo)
    return written


_BRACES = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)?[^{}]*\}(?!\})")
_NAMED = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)")        # Jinja's newstyle gettext: %(period)s


def check_catalogue(cat) -> list[tuple[str, str]]:
    """``(msgid, problem)`` for each translation that would break a page: Babel's checks, and a
    ``{placeholder}`` (``str.format``) or ``%(name)s`` (Jinja templates) dropped or added. Babel's
    guess at positional %-formats (it reads "% detractors" as ``% d``) is not applied."""
    errors = []
    for m in cat:
        if not m.id:
            continue
        m.flags.discard("python-format")
        ids = m.id if isinstance(m.id, (list, tuple)) else (m.id,)
        strs = m.string if isinstance(m.string, (list, tuple)) else (m.string,)
        for s in strs:
            for kind, rx in (("{name}", _BRACES), ("%(name)s", _NAMED)):
                if s and (kind == "%(name)s" or "python-brace-format" in m.flags) and \
                        sorted(rx.findall(s)) != sorted(rx.findall(ids[0])):
                    errors.append((ids[0], f"{kind} placeholders {sorted(set(rx.findall(ids[0])))} "
                                           f"differ in the translation {s!r}"))
    errors += [(m.id, str(err)) for m, errs in cat.check() for err in errs]
    return errors


@lru_cache(maxsize=None)
def _load(locale: str, stamp: float) -> NullTranslations:
    po = po_path(locale)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= stamp:
        with open(mo, "rb") as fh:
            return Translations(fh, domain=DOMAIN)
    logger.info("catalogue %s is not compiled (or older than its .po): compiling it in memory "
                "(`make env` compiles it)", mo)
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, read_po(po), use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of ``locale`` (``NullTranslations`` for English).

    Raises
    ------
    ValueError
        For a locale without a catalogue, naming the ones there are.
    """
    locale = normalise(locale)
    if locale == SOURCE_LOCALE:
        return NullTranslations()
    po = po_path(locale)
    return _load(locale, po.stat().st_mtime)


def normalise(locale: str | None) -> str:
    """``zh_CN``/``zh-cn`` -> ``zh-CN``; ``None``/empty -> ``en``; ValueError for one without a catalogue."""
    if not locale:
        return SOURCE_LOCALE
    parts = str(locale).replace("_", "-").split("-")
    tag = "-".join([parts[0].lower()] + [p.upper() for p in parts[1:]])
    if tag != SOURCE_LOCALE and not po_path(tag).exists():
        raise ValueError(f"locale {locale!r}: no catalogue {po_path(tag)} (available: {', '.join(available())})")
    return tag


# --------------------------------------------------------------------------- the run's language

def use(locale: str | None = SOURCE_LOCALE, currency: dict | None = None) -> NullTranslations:
    """Make ``locale`` (and ``currency``) the language of everything this process writes from now on:
    ``_``/``ngettext``/``lazy``, ``crm_lib.fmt`` and, once imported, the figures' fonts."""
    locale = normalise(locale)
    t = translations(locale)
    _state.update(locale=locale, currency=dict(currency) if currency else None, translations=t)
    fmt.set_locale(locale, _state["currency"], *((t.gettext, t.ngettext) if locale != SOURCE_LOCALE else ()))
    style = sys.modules.get("crm_lib.plots._style")
    if style is not None:
        style.apply_locale(locale)
    return t


def use_params(params: dict | None) -> NullTranslations:
    """``use`` with a run's resolved parameters (``locale``, ``currency``; missing keys: English)."""
    params = params or {}
    return use(params.get("locale") or SOURCE_LOCALE, params.get("currency"))


@contextmanager
def using(locale: str | None, currency: dict | None = None):
    """``use(locale, currency)`` inside the block, the previous language and currency after it."""
    before = (_state["locale"], _state["currency"])
    use(locale, currency)
    try:
        yield
    finally:
        use(*before)


def current() -> str:
    """The locale in use (``en`` until ``use`` is called)."""
    return _state["locale"]


def gettext(message: str) -> str:
    """``message`` translated into the current locale (itself when the catalogue lacks it)."""
    return _state["translations"].gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current locale (Chinese has one form)."""
    return _state["translations"].ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in a context, for a word that translates differently by use."""
    return _state["translations"].pgettext(context, message)


def lazy(message: str) -> LazyProxy:
    """``message`` translated when it is used, not when the module is imported: for constants."""
    return LazyProxy(gettext, message, enable_cache=False)


def N_(message: str) -> str:
    """Mark ``message`` for extraction only (it is translated later, where it is shown)."""
    return message


def translate_markdown(source: str, locale: str | None = None) -> str | None:
    """The catalogue's translation of a notebook Markdown cell (one cell, one message), or None
    when the catalogue has none (English, or a cell added since the catalogue was written)."""
    locale = normalise(locale or current())
    if locale == SOURCE_LOCALE or not source.strip():
        return None
    t = translations(locale)
    out = t.gettext(source)
    return out if out != source else None


# --------------------------------------------------------------------------- KPI registry

def kpi_messages() -> list[tuple[str, str]]:
    """Every reviewer-facing string of the KPI registry as ``(message, comment)``: each KPI's name
    as shown (``active customers``) and its definition. kpis.py is data, so this lists it."""
    from crm_lib import kpis

    out = []
    for name, k in kpis.REGISTRY.items():
        out.append((kpi_label_source(name), f"KPI name ({name})"))
        out.append((k.definition, f"KPI definition ({name})"))
    return out


def kpi_label_source(name: str) -> str:
    """A KPI's English name as pages show it: the identifier with spaces (``active customers``)."""
    return str(name).replace("_", " ")


def kpi_label(name: str) -> str:
    """A KPI's name in the current locale (``active customers`` / ``活跃客户数``)."""
    return gettext(kpi_label_source(name))


def kpi_definition(name: str) -> str:
    """A KPI's definition in the current locale."""
    from crm_lib import kpis

    return gettext(kpis.get(name).definition)


# --------------------------------------------------------------------------- Babel extractors

# What a notebook's code cells hand to the page as text, besides explicit ``gettext("...")`` calls: the
# name of a section (``ctx.section("Cox model")``, shown in its box) and the page title
# (``prose.header(ctx, "Survival-based churn")``, its second argument).
NOTEBOOK_KEYWORDS = {"gettext": None, "ngettext": (1, 2), "section": None, "header": (2,)}


def extract_ipynb(fileobj, keywords, comment_tags, options):
    """Babel extractor for notebooks: each Markdown cell's source is one message, and each code cell's
    reviewer-facing literals (``NOTEBOOK_KEYWORDS``) are messages as in a Python file.

    Registered as ``ipynb`` (pyproject's ``babel.extractors``) and named in babel.cfg. The line
    number is the cell's index; the comment names the cell id.
    """
    from babel.messages.extract import extract_python

    nb = json.loads(fileobj.read().decode("utf-8"))
    for i, cell in enumerate(nb.get("cells", [])):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if cell.get("cell_type") == "markdown" and src.strip():
            yield i + 1, None, src, [f"notebook Markdown cell {cell.get('id', i)}"]
        elif cell.get("cell_type") == "code" and src.strip():
            for _line, func, messages, comments in extract_python(io.BytesIO(src.encode("utf-8")),
                                                                   NOTEBOOK_KEYWORDS, [], {}):
                args = messages if isinstance(messages, (list, tuple)) else (messages,)
                picked = [args[k - 1] if k <= len(args) else None for k in NOTEBOOK_KEYWORDS[func] or (1,)]
                if any(not isinstance(m, str) for m in picked):
                    continue                        # a name or an expression, not a literal: nothing to extract
                comment = comments + [f"notebook code cell {cell.get('id', i)}"]
                if len(picked) == 2:
                    yield i + 1, "ngettext", tuple(picked), comment
                else:
                    yield i + 1, None, picked[0], comment


def extract_kpis(fileobj, keywords, comment_tags, options):
    """Babel extractor for the KPI registry (crm_lib/kpis.py): names and definitions."""
    for i, (message, comment) in enumerate(kpi_messages(), start=1):
        yield i, None, message, [comment]


def notebook_messages(notebooks_dir: Path | None = None) -> list[str]:
    """Every message of the notebooks (Markdown cells and code cells' literals), as ``extract_ipynb``
    extracts them (a plural is its singular and plural form)."""
    from crm_lib import config

    d = Path(notebooks_dir or config.default_notebooks_dir())
    out = []
    for nb in sorted(d.glob("*.ipynb")):
        with open(nb, "rb") as fh:
            for _l, _f, m, _c in extract_ipynb(fh, (), (), {}):
                out.extend(m if isinstance(m, tuple) else (m,))
    return out


def _main(argv: list[str]) -> int:
    if argv[:1] == ["compile"]:
        for mo in compile_catalogues():
            print(f"compiled {mo}")
        return 0
    print("usage: python -m crm_lib.i18n compile", file=sys.stderr)
    return 2


__all__ = ["use", "use_params", "using", "current", "gettext", "_", "ngettext", "pgettext", "lazy", "N_",
           "translations", "compile_catalogues", "check_catalogue", "translate_markdown", "kpi_label",
           "kpi_definition", "kpi_messages", "notebook_messages", "extract_ipynb", "extract_kpis", "SUPPORTED",
           "DOMAIN", "LOCALE_DIR"]


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
