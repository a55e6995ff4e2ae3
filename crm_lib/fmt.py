"""How numbers, intervals and data values are written for reviewers: one place for every page.

The bottom layer of the presentation code (it imports nothing from ``crm_lib``): numbers
with thousands separators, money on a bn/m/k scale, percentages and percentage points,
p-values, the confidence-level label of an interval (``ci_label(alpha)`` → ``"95% CI"``)
and ``esc``, which makes a value read from data or parameters safe to put into
Markdown-with-HTML, so that it shows as the literal text it is and never as markup.

Every function returns ``"n/a"`` (``NA``) for a missing value (None, NaN, ``pd.NA``) unless
it says otherwise, and never uses scientific notation.

**Locale.** Output follows the run's locale and currency, set once per process by
``crm_lib.i18n.use(locale, currency)`` (which calls ``set_locale`` here). The default, ``en``
without a currency, is the historical output byte for byte. Any other locale lays numbers out
with Babel (its decimal and grouping symbols and percent pattern; rounding stays Python's, so a
value rounds the same in every language), translates the few fixed words (``n/a``, ``CI``,
``pp``, ``to``) through the catalogue, and for Chinese writes amounts on the 万 / 亿 scale
(``4.01亿``, ``¥4.01亿`` or ``4.01亿元`` for CNY) and periods as ``2026年第3季度``.
"""

from __future__ import annotations

import math
import re
from datetime import date as _date
from decimal import Decimal

import numpy as np
import pandas as pd

NA = "n/a"

# --------------------------------------------------------------------------- locale

_LOCALE = "en"                     # BCP 47 tag of the run (``en``, ``zh-CN``)
_CURRENCY: dict | None = None      # {"code": "CNY", "symbol": "¥"} or None (bare amounts)


def _identity(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


_GETTEXT = _identity               # the catalogue's gettext, installed by crm_lib.i18n.use
_NGETTEXT = _plural                # and its ngettext


def set_locale(locale: str = "en", currency: dict | None = None, gettext=None, ngettext=None) -> None:
    """Format for ``locale`` (``en``, ``zh-CN``, ...) and ``currency`` from now on in this process.

    ``crm_lib.i18n.use`` calls this (with the catalogue's ``gettext`` and ``ngettext``); use that, not this.
    """
    global _LOCALE, _CURRENCY, _GETTEXT, _NGETTEXT
    _LOCALE = str(locale or "en")
    _CURRENCY = dict(currency) if currency else None
    _GETTEXT = gettext or _identity
    _NGETTEXT = ngettext or _plural


def get_locale() -> str:
    """The locale output is formatted for (``en`` unless ``crm_lib.i18n.use`` chose another)."""
    return _LOCALE


def gettext(message: str) -> str:
    """``message`` in the run's language (the catalogue's translation; itself in ``en``).

    The analyses' sentences, table headers and figure texts are marked with this, imported as ``_``
    (``from crm_lib.fmt import _``): the analyses sit below ``crm_lib.i18n`` in the layering, so the
    catalogue reaches them through here. Placeholders are named and filled after translation:
    ``_("{n} customers churned").format(n=integer(k))``.
    """
    return _GETTEXT(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the run's language (Chinese has one form)."""
    return _NGETTEXT(singular, plural, n)


class Text(str):
    """A text in the run's language that keeps its English ``source``: what a page shows and what a fact
    records (facts are the same in every language) from one call (``tr``)."""

    source: str

    def __new__(cls, text: str, source: str | None = None):
        out = super().__new__(cls, text)
        out.source = str(text) if source is None else str(source)
        return out


def source(text) -> str:
    """The English of a ``Text`` (made by ``tr``); any other string as it is."""
    return getattr(text, "source", text)


def tr(message: str, **values) -> Text:
    """``_(message).format(**values)`` that remembers its English: ``message.format`` with each value's own
    ``source``. For a text that both reaches a page and is recorded, e.g. a not-estimable reason."""
    return Text(gettext(message).format(**values), message.format(**{k: source(v) for k, v in values.items()}))


def N_(message: str) -> str:
    """Mark ``message`` for extraction only; translate it with ``_`` where it is shown."""
    return message


def lazy(message: str):
    """``message`` translated when it is used, not when the module is imported: for module constants."""
    from babel.support import LazyProxy

    return LazyProxy(gettext, message, enable_cache=False)


def _en() -> bool:
    return _LOCALE == "en"


def _zh() -> bool:
    return _LOCALE.lower().startswith("zh")


def _babel_locale() -> str:
    return _LOCALE.replace("-", "_")


def _na() -> str:
    return NA if _en() else gettext("n/a")


def _localise(plain: str, digits: int, percent: bool = False) -> str:
    """A number already rounded by Python (``-1234.5``, no grouping) laid out by Babel for the locale."""
    from babel.numbers import format_decimal, format_percent

    if not re.search(r"[1-9]", plain):
        plain = plain.lstrip("+-")                 # no signed zero in any language
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    if percent:
        return format_percent(Decimal(plain) / 100, format=pattern + "%", locale=_babel_locale())
    return format_decimal(Decimal(plain), format=pattern, locale=_babel_locale())


def missing(x) -> bool:
    """True for None, NaN (float or NumPy), ``pd.NA`` and ``pd.NaT``; False for anything else."""
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):              # arrays and other non-scalars are not "missing"
        return False


def _no_negative_zero(s: str) -> str:
    """``-0.0`` and ``-0.0%`` read as a signed zero; write them as zero."""
    return s[1:] if s.startswith("-") and not re.search(r"[1-9]", s) else s


# --------------------------------------------------------------------------- numbers

def integer(x) -> str:
    """An integer with thousands separators (rounded half to even): ``12,345``."""
    if missing(x):
        return _na()
    if _en():
        return f"{int(round(float(x))):,}"
    return _localise(str(int(round(float(x)))), 0)


def number(x, digits: int = 1) -> str:
    """A number with thousands separators and ``digits`` decimals: ``1,234.5``."""
    if missing(x):
        return _na()
    if _en():
        return _no_negative_zero(f"{float(x):,.{digits}f}")
    return _localise(f"{float(x):.{digits}f}", digits)


def signed(x, digits: int = 1) -> str:
    """A number with an explicit sign: ``+1.5``, ``-0.3``, ``0.0``."""
    if missing(x):
        return _na()
    s = f"{float(x):+,.{digits}f}"
    if not _en():
        body = _localise(f"{abs(float(x)):.{digits}f}", digits)
        s = (s[0] + body) if re.search(r"[1-9]", s) else body
        return s
    return s[1:] if not re.search(r"[1-9]", s) else s


# (unit, divisor, decimals) from the smallest scale up
_SCALES_EN = (("", 1.0, 0), ("k", 1e3, 1), ("m", 1e6, 1), ("bn", 1e9, 1))
_SCALES_ZH = (("", 1.0, 0), ("万", 1e4, 2), ("亿", 1e8, 2), ("万亿", 1e12, 2))


def _scaled(x: float, scales, step: float) -> tuple[str, float, int]:
    """The scale of ``x``, chosen after rounding (999,960 is 1.0m, not 1,000.0k)."""
    i = max(j for j, (_u, div, _d) in enumerate(scales) if j == 0 or abs(x) >= div)
    if i < len(scales) - 1 and round(abs(x) / scales[i][1], scales[i][2]) >= step:
        i += 1
    return scales[i]


def money(x) -> str:
    """An amount on a bn/m/k scale with one decimal (``1.5m``, ``-250.0k``), plain below 1,000.

    The scale is chosen after rounding, so 999,960 is ``1.0m``, not ``1,000.0k``. With a
    ``currency`` parameter the amount carries it (``¥40.1bn``, ``CNY 40.1bn`` without a symbol).
    In Chinese the scale is 万 / 亿 / 万亿 with two decimals (``4.01亿``; ``9,999`` below 1万),
    with the currency as ``4.01亿元`` for CNY, else its symbol (``US$4.01亿``).
    """
    if missing(x):
        return _na()
    x = float(x)
    if _en():
        unit, div, digits = _scaled(x, _SCALES_EN, 1000)
        s = _no_negative_zero(f"{x / div:,.{digits}f}{unit}")
    else:
        unit, div, digits = _scaled(x, _SCALES_ZH if _zh() else _SCALES_EN, 1e4 if _zh() else 1000)
        s = _localise(f"{x / div:.{digits}f}", digits) + unit
    return _with_currency(s)


def _with_currency(amount: str) -> str:
    if not _CURRENCY:
        return amount
    code, symbol = str(_CURRENCY.get("code") or ""), str(_CURRENCY.get("symbol") or "")
    sign, body = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    if _zh() and code.upper() == "CNY":
        return f"{sign}{body}元"
    if symbol:
        return f"{sign}{symbol}{body}"
    return f"{code} {amount}" if code else amount


def currency_label() -> str:
    """What amounts are in, for a table header or an axis: ``¥``, ``CNY``, ``元``; empty without a currency."""
    if not _CURRENCY:
        return ""
    code, symbol = str(_CURRENCY.get("code") or ""), str(_CURRENCY.get("symbol") or "")
    if _zh() and code.upper() == "CNY":
        return "元"
    return symbol or code


def pct(x, digits: int = 1) -> str:
    """A proportion (0-1) as a percentage: ``0.123`` → ``12.3%``."""
    if missing(x):
        return _na()
    if _en():
        return _no_negative_zero(f"{100 * float(x):.{digits}f}%")
    return _localise(f"{100 * float(x):.{digits}f}", digits, percent=True)


def pp(x, digits: int = 2) -> str:
    """A difference of proportions (0-1) in percentage points, signed: ``0.0123`` → ``+1.23 pp``."""
    if missing(x):
        return _na()
    return gettext("{value} pp").format(value=signed(100 * float(x), digits))


def p_value(p, digits: int = 3) -> str:
    """A p-value: ``0.012``; below ``10**-digits`` ``<0.001`` (never ``0.000`` or ``1e-300``).

    Rounding error up to 1e-9 outside [0, 1] (e.g. a survival test's 1.0000000002) is clipped.

    Raises
    ------
    ValueError
        When ``p`` is further outside [0, 1] (a p-value that is not a probability is a bug upstream).
    """
    if missing(p):
        return _na()
    p = float(p)
    if not -1e-9 <= p <= 1 + 1e-9:
        raise ValueError(f"p-value {p!r} is not in [0, 1]")
    p = min(max(p, 0.0), 1.0)
    floor = 10.0 ** -digits
    return f"<{floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"


def p_text(p, digits: int = 3) -> str:
    """``p = 0.012``, ``p < 0.001`` or ``p n/a``, for sentences."""
    s = p_value(p, digits)
    if missing(p):
        return f"p {s}"
    return f"p < {s[1:]}" if s.startswith("<") else f"p = {s}"


def significant(x, digits: int = 3) -> str:
    """``digits`` significant digits without scientific notation: 0.000123, 12.3, 1,234."""
    if missing(x):
        return _na()
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return number(x, 0) if x == 0 else str(x)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return number(x, decimals)


COUNT_UNITS = ("customers", "problems", "KPIs", "alerts", "count", "complaints", "responses", "clusters")


def by_unit(value, unit: str, pct_digits: int = 2, missing_text: str | None = None) -> str:
    """A fact's value in its unit: proportions as %, currency with ``money``, counts as integers,
    anything else to 3 significant digits below 100 and 1 decimal above (missing: ``n/a``)."""
    if missing(value):
        return _na() if missing_text is None else missing_text
    if unit == "proportion":
        return pct(value, pct_digits)
    if unit == "currency":
        return money(value)
    if unit in COUNT_UNITS:
        return integer(value)
    return significant(value, 3) if abs(float(value)) < 100 else number(value, 1)


# --------------------------------------------------------------------------- confidence levels

def level(alpha: float) -> float:
    """The confidence level of an interval at ``alpha``: ``1 - alpha`` (0.05 → 0.95).

    Rounded to 10 decimals, so ``level(1 - 0.8)`` is 0.8, not 0.8000000000000000444.

    Raises
    ------
    ValueError
        When ``alpha`` is not strictly between 0 and 1.
    """
    if missing(alpha) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha={alpha!r}: give the error rate of an interval, strictly between 0 and 1 "
                         "(e.g. 0.05 for a 95% interval)")
    return round(1.0 - float(alpha), 10)


def level_pct(alpha: float) -> str:
    """The level as a percentage without spurious decimals: 0.05 → ``95%``, 0.025 → ``97.5%``."""
    v = round(100 * level(alpha), 6)
    return f"{v:.6f}".rstrip("0").rstrip(".") + "%"


def significance(alpha: float) -> str:
    """The significance level as a percentage: 0.05 → ``5%``, 0.025 → ``2.5%``."""
    level(alpha)                                 # validates alpha
    v = round(100 * float(alpha), 6)
    return f"{v:.6f}".rstrip("0").rstrip(".") + "%"


def ci_label(alpha: float) -> str:
    """``"95% CI"`` at alpha 0.05, ``"80% CI"`` at 0.2, ``"97.5% CI"`` at 0.025 (``95%置信区间`` in Chinese)."""
    return gettext("{level} CI").format(level=level_pct(alpha))


def alpha_of(level_: float) -> float:
    """The alpha of a confidence level (0.95 → 0.05), for callers that carry the level."""
    return round(1.0 - float(level_), 10)


def _to() -> str:
    """The separator of a range whose bound has a sign: `` to `` (`` 至 `` in Chinese)."""
    return " to " if _en() else " " + gettext("to") + " "


def interval(lo, hi, f=number, missing_text: str | None = None, sep: str | None = None, **kw) -> str:
    """``lo-hi`` written with ``f`` (``" to "`` when a bound is negative, so signs stay readable;
    ``sep`` forces a separator). ``missing_text`` defaults to "interval not estimable"."""
    if missing(lo) or missing(hi):
        return gettext("interval not estimable") if missing_text is None else missing_text
    a, b = f(lo, **kw), f(hi, **kw)
    if sep is None:
        sep = _to() if a.startswith(("-", "+")) or b.startswith(("-", "+")) else "-"
    return f"{a}{sep}{b}"


def with_ci(value: str, lo: str, hi: str, alpha: float) -> str:
    """``value (95% CI lo-hi)`` from already formatted parts."""
    sep = _to() if lo.startswith(("-", "+")) or hi.startswith(("-", "+")) else "-"
    return f"{value} ({ci_label(alpha)} {lo}{sep}{hi})"


def pct_ci(x, lo, hi, alpha: float = 0.05, digits: int = 1) -> str:
    """``2.1% (95% CI 1.9%-2.3%)``."""
    if missing(lo) or missing(hi):
        not_estimable = gettext("not estimable")
        return f"{pct(x, digits)} ({ci_label(alpha)} {not_estimable})"
    return with_ci(pct(x, digits), pct(lo, digits), pct(hi, digits), alpha)


def ratio_ci(v, lo, hi, digits: int = 2) -> str:
    """``1.81 (1.73-1.90)``: a ratio with its interval, the level stated by the caller's header."""
    not_estimable = gettext("not estimable")
    return f"{number(v, digits)} ({interval(lo, hi, number, not_estimable, digits=digits)})"


# --------------------------------------------------------------------------- periods and dates

_PERIOD_SKELETON = {"month": "yMMM", "quarter": "yQQQ", "year": "y"}


def period(label) -> str:
    """A reporting period's label for reviewers: ``2026Q3`` in ``en`` (unchanged), ``2026年第3季度``,
    ``2026年9月`` or ``2026年`` in Chinese (Babel's date skeletons, so any locale has its own form).

    A label that is not a month (``2026-09``), quarter (``2026Q3``) or year (``2026``) is returned escaped.
    """
    if missing(label):
        return _na()
    s = str(label).strip()
    if _en():
        return esc(s)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
        kind, d = "month", _date(int(m[1]), int(m[2]), 1)
    elif m := re.fullmatch(r"(\d{4})[Qq]([1-4])", s):
        kind, d = "quarter", _date(int(m[1]), 3 * int(m[2]) - 2, 1)
    elif re.fullmatch(r"\d{4}", s):
        kind, d = "year", _date(int(s), 1, 1)
    else:
        return esc(s)
    from babel.dates import format_skeleton

    return format_skeleton(_PERIOD_SKELETON[kind], d, locale=_babel_locale())


def date(d) -> str:
    """A date: ISO ``2026-09-30`` in ``en`` (unchanged), ``2026年9月30日`` in Chinese (Babel's long date)."""
    if missing(d):
        return _na()
    d = pd.Timestamp(d).date()
    if _en():
        return d.isoformat()
    from babel.dates import format_date

    return format_date(d, "long", locale=_babel_locale())


# --------------------------------------------------------------------------- values from data and parameters

# HTML's special characters, and the characters Markdown (CommonMark, GFM tables and
# strikethrough, nbconvert's $ maths) reads as inline syntax anywhere in a line, become
# numeric character references: Markdown treats a reference as literal text and HTML decodes
# it to the character. Parentheses need nothing once brackets are escaped (no link can form);
# the colon is escaped because nbconvert's Markdown turns bare ``http://host.tld`` into links.
_ESCAPES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[]|~$:"}
_ESCAPE_RE = re.compile("[" + re.escape("".join(_ESCAPES)) + "]")
# what starts a block when it opens a line: heading, list, quote, setext rule, image/link
_LINE_START = re.compile(r"^(\s*)([#+\-=>!]|\d+[.)])")


def esc(value) -> str:
    """A value from data or parameters, safe to interpolate into Markdown-with-HTML.

    ``<img src=x onerror=alert(1)>`` renders as that text, not an image; ``[x](javascript:…)``
    as that text, not a link (nor is a bare URL made one); ``*``, ``_``, backticks, ``|``, ``~``
    and ``$`` as themselves, not emphasis, code, a table cell break, strikethrough or maths.
    Line breaks become spaces and a leading ``#``, ``-``, ``+``, ``>``, ``=`` or ``1.`` is
    escaped, so a value cannot start a heading, a list or a quote. Missing values are ``n/a``.

    Use it on every value that comes from the warehouse or from parameters, in every sentence
    and Markdown table; not inside code spans (use ``code``), not in DataFrame cells (pandas
    escapes HTML there; Stylers need ``escape_styler``) and not in plot titles (plain text).
    """
    if not isinstance(value, str) and missing(value):
        return _na()
    s = re.sub(r"\s+", " ", str(value))
    s = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], s)
    m = _LINE_START.match(s)
    if m:
        c = m.group(2)[-1] if m.group(2)[0].isdigit() else m.group(2)
        i = m.end() - 1
        s = s[:i] + f"&#{ord(c)};" + s[i + 1:]
    return s


def label(value) -> str:
    """A code as words, escaped: ``loyal_customers`` → ``loyal customers``."""
    return esc(str(value).replace("_", " ")) if not missing(value) else _na()


def code(value) -> str:
    """A value as a Markdown code span, whatever backticks it contains (CommonMark's longer fence)."""
    s = re.sub(r"\s+", " ", str(value))
    run = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if run or s.startswith(" ") or s.endswith(" ") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def escape_styler(styler):
    """A pandas ``Styler`` whose cells and index/column labels are HTML-escaped (pandas does not by default)."""
    styler = styler.format(escape="html", na_rep="")
    styler = styler.format_index(escape="html", axis=0)
    return styler.format_index(escape="html", axis=1)


def finite(x) -> bool:
    """True for a number that is neither missing nor infinite."""
    return not missing(x) and bool(np.isfinite(float(x)))
