"""crm_lib.fmt: how numbers, intervals and data values are written, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from crm_lib import fmt

MISSING = [None, float("nan"), np.nan, np.float64("nan"), pd.NA, pd.NaT]


# --------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("x", MISSING, ids=repr)
def test_every_formatter_writes_missing_values_as_na(x):
    for f in (fmt.integer, fmt.number, fmt.signed, fmt.money, fmt.pct, fmt.pp, fmt.p_value, fmt.significant):
        assert f(x) == "n/a", f.__name__
    assert fmt.p_text(x) == "p n/a"
    assert fmt.esc(x) == "n/a"


@pytest.mark.parametrize("x, want", [
    (0, "0"), (999.4, "999"), (999.6, "1.0k"), (1_234, "1.2k"), (-1_234, "-1.2k"), (999_960, "1.0m"),
    (1_500_000, "1.5m"), (-2_345_678_901, "-2.3bn"), (12_345_678_901_234, "12,345.7bn"), (-0.4, "0"),
    (np.int64(5_000), "5.0k"), (-999_940, "-999.9k"),
])
def test_money_scales_after_rounding_and_keeps_the_sign(x, want):
    assert fmt.money(x) == want


@pytest.mark.parametrize("x, digits, want", [
    (0, 1, "0.0%"), (1, 1, "100.0%"), (1, 0, "100%"), (0.1234, 1, "12.3%"), (0.99996, 2, "100.00%"),
    (-0.00001, 1, "0.0%"), (-0.25, 0, "-25%"), (1.5, 1, "150.0%"), (np.float32(0.5), 1, "50.0%"),
])
def test_pct_of_zero_one_and_beyond(x, digits, want):
    assert fmt.pct(x, digits) == want


def test_percentage_points_and_signed_numbers():
    assert fmt.pp(0.0123) == "+1.23 pp"
    assert fmt.pp(-0.0123) == "-1.23 pp"
    assert fmt.pp(0.0) == "0.00 pp"           # no sign on zero, and never "-0.00"
    assert fmt.pp(-0.000001) == "0.00 pp"
    assert fmt.signed(2.25, 1) == "+2.2"       # round half to even, like Python's format
    assert fmt.signed(-1234.5, 0) == "-1,234"


def test_integer_and_number():
    assert fmt.integer(1234567.4) == "1,234,567"
    assert fmt.integer(np.int64(-3)) == "-3"
    assert fmt.number(-0.04, 1) == "0.0"
    assert fmt.number(1234.5678, 2) == "1,234.57"


@pytest.mark.parametrize("x, want", [(0.000123456, "0.000123"), (12.345, "12.3"), (0, "0"), (-0.5, "-0.500"),
                                     (1e-12, "0.00000000000100")])
def test_significant_never_uses_scientific_notation(x, want):
    assert fmt.significant(x) == want


def test_by_unit():
    assert fmt.by_unit(0.1234, "proportion") == "12.34%"
    assert fmt.by_unit(0.1234, "proportion", pct_digits=1) == "12.3%"
    assert fmt.by_unit(-2.5e6, "currency") == "-2.5m"
    assert fmt.by_unit(1234.4, "customers") == "1,234"
    assert fmt.by_unit(0.73214, "index") == "0.732"
    assert fmt.by_unit(1234.56, "days") == "1,234.6"
    assert fmt.by_unit(None, "days", missing_text="") == ""


# --------------------------------------------------------------------------- p-values

@pytest.mark.parametrize("p, want", [
    (0.0, "<0.001"), (1e-320, "<0.001"), (5e-301, "<0.001"), (0.000999, "<0.001"), (0.001, "0.001"),
    (0.0123, "0.012"), (0.5, "0.500"), (1.0, "1.000"), (1 + 1e-12, "1.000"), (-1e-12, "<0.001"),
])
def test_p_value_below_the_floor_and_at_the_edges(p, want):
    assert fmt.p_value(p) == want


def test_p_text_and_digits():
    assert fmt.p_text(1e-300) == "p < 0.001"
    assert fmt.p_text(0.04) == "p = 0.040"
    assert fmt.p_value(0.00004, digits=4) == "<0.0001"


@pytest.mark.parametrize("p", [1.5, -0.1, 2.0])
def test_p_value_outside_zero_one_is_a_bug_not_a_number(p):
    with pytest.raises(ValueError, match="not in \\[0, 1\\]"):
        fmt.p_value(p)


# --------------------------------------------------------------------------- confidence levels

@pytest.mark.parametrize("alpha, label", [
    (0.05, "95% CI"), (0.2, "80% CI"), (0.1, "90% CI"), (0.01, "99% CI"), (0.025, "97.5% CI"),
    (0.001, "99.9% CI"), (1 - 0.8, "80% CI"), (0.5, "50% CI"), (np.float64(0.05), "95% CI"),
])
def test_ci_label_has_no_spurious_decimals(alpha, label):
    assert fmt.ci_label(alpha) == label


def test_level_and_significance():
    assert fmt.level(0.05) == 0.95
    assert fmt.level(1 - 0.8) == 0.8            # 0.19999999999999996 reads as 0.2
    assert fmt.alpha_of(0.95) == 0.05
    assert fmt.significance(0.05) == "5%" and fmt.significance(0.025) == "2.5%"
    assert fmt.level_pct(0.2) == "80%"


@pytest.mark.parametrize("alpha", [0, 1, -0.05, 1.5, 95, None, float("nan")])
def test_alpha_outside_zero_one_names_the_fix(alpha):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fmt.ci_label(alpha)


@given(st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_ci_label_round_trips_the_level(alpha):
    label = fmt.ci_label(alpha)
    assert label.endswith("% CI")
    # the printed level is 100 * (1 - alpha) rounded to 6 decimals: off by at most half a unit
    # of the 6th decimal (5e-7), plus binary rounding of that half (hence 1e-6)
    assert float(label[:-4]) == pytest.approx(100 * (1 - alpha), abs=1e-6)


def test_intervals():
    assert fmt.pct_ci(0.021, 0.019, 0.023, 0.05) == "2.1% (95% CI 1.9%-2.3%)"
    assert fmt.pct_ci(0.25, 0.246, 0.253, 0.2) == "25.0% (80% CI 24.6%-25.3%)"
    assert fmt.pct_ci(0.1, np.nan, 0.2, 0.2) == "10.0% (80% CI not estimable)"
    assert fmt.interval(-0.5, 1.25, fmt.number, digits=2) == "-0.50 to 1.25"   # signs: " to ", not "--"
    assert fmt.interval(1, 2, fmt.number, sep=" to ", digits=0) == "1 to 2"
    assert fmt.interval(None, 2) == "interval not estimable"
    assert fmt.ratio_ci(1.814, 1.726, 1.9) == "1.81 (1.73-1.90)"
    assert fmt.with_ci("+1.0", "-0.5", "+2.5", 0.1) == "+1.0 (90% CI -0.5 to +2.5)"


# --------------------------------------------------------------------------- escaping values from data

PAYLOADS = ["<img src=x onerror=alert(1)>", "RET<script>alert(1)</script>", "[x](javascript:alert(1))",
            "see http://evil.example/x.png", "<http://evil.example>",
            "*bold* _it_ `code` | pipe ~~gone~~ $x$", "# heading", "- list", "1. ordered", "> quote",
            "a\n\n# b\n<script>", "x & y \"q\" 'a'", "![img](http://x/y.png)", "\\*not\\*"]


def _visible_text(markdown: str) -> str:
    """The text a browser shows for ``markdown`` rendered as nbconvert renders pages, or raise if it made markup."""
    import html as h
    import re

    out = markdown2html_mistune(markdown)
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", out))
    assert tags <= {"p"}, f"{markdown!r} rendered markup {tags}: {out!r}"
    return h.unescape(re.sub(r"</?p>", "", out)).strip()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_values_render_as_their_own_text(payload):
    want = " ".join(payload.split())            # line breaks become spaces
    assert _visible_text(fmt.esc(payload)) == want
    assert _visible_text(f"Campaign {fmt.esc(payload)} lifted response.") == f"Campaign {want} lifted response."


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40))
def test_any_text_renders_as_itself(s):
    if s.strip():                                   # whitespace is collapsed on both sides
        assert " ".join(_visible_text("Value: " + fmt.esc(s)).split()) == " ".join(("Value: " + s).split())


def test_esc_keeps_plain_words_readable():
    assert fmt.esc("voluntary") == "voluntary"
    assert fmt.esc("RET-2026-07") == "RET-2026-07"       # only syntax is escaped: ids stay greppable
    assert fmt.label("loyal_customers") == "loyal customers"
    assert fmt.esc(12) == "12"


@pytest.mark.parametrize("value", ["early_warning_2026Q3.csv", "a`b", "``x``", "/tmp/x y/"])
def test_code_spans_hold_any_backticks(value):
    out = markdown2html_mistune(fmt.code(value))
    import html as h
    import re

    inner = re.search(r"<code>(.*)</code>", out).group(1)
    assert h.unescape(inner).strip() == value.strip()


def test_styler_cells_and_labels_are_escaped():
    df = pd.DataFrame({"<b>col": ["<img src=x onerror=alert(1)>"]}, index=["<i>row"])
    html = fmt.escape_styler(df.style).to_html()
    assert "<img" not in html and "<b>col" not in html and "<i>row" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_missing_covers_pandas_and_numpy_but_not_arrays():
    assert all(fmt.missing(x) for x in MISSING)
    assert not fmt.missing(0) and not fmt.missing("") and not fmt.missing(np.array([np.nan, 1.0]))
    assert fmt.finite(1.0) and not fmt.finite(math.inf) and not fmt.finite(None)
