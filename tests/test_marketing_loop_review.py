"""The effectiveness review reads notebook 50's evaluation of the previous period's list (#14)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_lib.errors import NotEstimable
from crm_lib.evaluation import narrative as review_text
from crm_lib.evaluation import report as review
from crm_lib.marketing import report as R
from crm_lib.periods import Period
from crm_lib.reporting.facts import FactBook


def _recorded(x1, n1, x0, n0, alpha=0.05) -> list[dict]:
    """Notebook 50's fact, recorded by its own function from a hand-made evaluation."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", alpha=alpha)
    p = test_proportions_2indep(x1, n1, x0, n0, method="score")[1]
    ev = pd.DataFrame({"n_treatment": [n1], "n_control": [n0], "rate_treatment": [x1 / n1], "rate_control": [x0 / n0],
                       "uplift": [x1 / n1 - x0 / n0], "uplift_ci_lower": [lo], "uplift_ci_upper": [hi],
                       "p_value": [p]}, index=["all"])
    fb = FactBook("50_next_best_product", "2026Q3", alpha=alpha)
    R.record_previous_list_fact(fb, ev, {"period": "2026Q2", "as_of": "2026-06-30", "model_version": "logistic@x",
                                         "control": {"planned_uplift": 0.05}}, alpha)
    return [{**vars(f), "tags": f.tags} for f in fb.facts.values()]


def test_review_reads_the_list_fact_with_its_arms():
    ev = review.list_evaluation(_recorded(120, 1000, 40, 1000), period_label="2026Q3")
    assert ev["evaluated"] and ev["n_treatment"] == 1000 and ev["n_control"] == 1000
    assert ev["value"] == pytest.approx(0.08) and ev["ci_lower"] < 0.08 < ev["ci_upper"] and ev["p_value"] < 1e-6
    md = review_text.list_md(ev, 0.05)
    assert "+8.00 pp" in md and "95% CI" in md and "raised adoption" in md and "2026Q2" in md
    t = review_text.list_table(ev, 0.05)
    assert t.loc["2026Q2", "contacted (n)"] == "1,000" and t.loc["2026Q2", "planned uplift"] == "+5.00 pp"


def _summary(ev):
    card = pd.DataFrame(columns=["status", "sig_prev", "sig_yoy", "p_prev", "history"])
    empty = pd.DataFrame(columns=["evaluable", "note"])
    acts = pd.DataFrame(columns=["note"])
    return review_text.summary_sentences(card, pd.DataFrame(columns=["kpi", "rule"]), empty, acts,
                                    Period.parse("2026Q3"), alpha=0.05, lists=ev)


def test_summary_mentions_the_list_only_when_significant():
    sig = _summary(review.list_evaluation(_recorded(120, 1000, 40, 1000)))
    assert len(sig) == 1 and "next-best-product list of 2026Q2 raised adoption" in sig[0]
    # 5.0% vs 4.6%: p ~ 0.7, within noise: not in the summary
    assert _summary(review.list_evaluation(_recorded(50, 1000, 46, 1000))) == []


def test_first_period_and_other_profiles_are_not_estimable_with_a_reason():
    fb = FactBook("50_next_best_product", "2026Q3")
    from crm_lib.reporting.context import NotebookContext

    ctx = NotebookContext("50_next_best_product", "quarterly", Period.parse("2026Q3"), {}, None, fb, {})
    ctx.omit("Previous period's list", NotEstimable("no target list from the previous period 2026Q2 in x",
                                                    "the first list is evaluated one period after it is written"))
    raw = [{**vars(f), "tags": f.tags} for f in fb.facts.values()]
    ev = review.list_evaluation(raw, ["50_next_best_product"])
    assert not ev["evaluated"] and "no target list from the previous period 2026Q2" in ev["reason"]
    with pytest.raises(NotEstimable, match="first list is evaluated one period after"):
        review_text.list_md(ev)
    monthly = review.list_evaluation([], ["00_data_overview", "90_effectiveness_review"])
    assert "does not draw next-best-product target lists" in monthly["reason"]
    assert _summary(ev) == []
