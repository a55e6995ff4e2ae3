"""Model covariates built from the feature table, each with its words for reasons and plots.

A covariate name is either one of ``REGISTRY`` (derived from feature-table columns by a
documented rule, missing values filled by that rule) or any numeric column already in the
frame (used as is; missing values are an error).

Missing values, the stated rule: every registry covariate fills them by its rule (see
``Covariate``), so no customer is dropped and every active customer can be scored. An
individual customer without an age is counted in the 30-64 reference band (neither age
covariate set); ``imputed_counts`` gives how many, the Cox notes say it on the page and
``record_imputation`` records it as a fact.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError
from crm_lib.fmt import N_, _

logger = logging.getLogger(__name__)


def _money(x: float) -> str:
    for unit, div in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:,.1f}{unit}"
    return f"{x:,.0f}"


@dataclass(frozen=True)
class Covariate:
    """One derived covariate.

    ``compute(frame, window_days)`` returns the model value; ``unit`` is the step one hazard
    ratio refers to; ``shown`` names the frame column a reviewer reads (e.g. AUM for
    ``log_aum``) and ``fmt`` formats it. Missing values are filled by each rule: no
    complaints/products/transactions -> 0; no transactions -> digital share 0 and recency =
    tenure; no balance -> AUM 0; no AUM 3 months earlier -> change 0; an individual without
    an age -> neither age band (the 30-64 reference).
    """

    name: str
    label: str
    unit: str
    needs: tuple
    compute: Callable
    shown: str
    fmt: Callable = lambda v: f"{v:,.0f}"  # noqa: E731
    binary: bool = False
    phrase: str = ""          # short reason words; {v} the customer's value, {ref} the typical value, {w} window


def _col(c, fill=0.0):
    return lambda f, w: pd.to_numeric(f[c], errors="coerce").astype(float).fillna(fill)


def _age(lo, hi):
    def f(fr, w):
        age = pd.to_numeric(fr["age"], errors="coerce").astype(float)
        ind = fr["customer_type"].eq("individual")
        # a missing age compares False: the customer counts in the 30-64 reference band
        return (ind & (age >= lo) & (age < hi)).fillna(False).astype(float)
    return f


def _recency(f, w):
    r = pd.to_numeric(f["recency_days"], errors="coerce").astype(float)
    # never transacted: days since onboarding (the longest silence possible)
    return np.log1p(r.fillna(pd.to_numeric(f["tenure_days"], errors="coerce").astype(float)).clip(lower=0))


_REG = [
    Covariate("complaints_window", N_("complaints in the last {w} days"), N_("1 complaint"), ("complaints_window",),
              _col("complaints_window"), "complaints_window", phrase=N_("{v} complaints in {w} days (typical {ref})")),
    Covariate("complaints_90d", N_("complaints in the last 90 days"), N_("1 complaint"), ("complaints_90d",),
              _col("complaints_90d"), "complaints_90d", phrase=N_("{v} complaints in 90 days (typical {ref})")),
    Covariate("open_complaints", N_("unresolved complaints"), N_("1 complaint"), ("open_complaints",),
              _col("open_complaints"), "open_complaints", phrase=N_("{v} unresolved complaints (typical {ref})")),
    Covariate("n_products", N_("products held"), N_("1 product"), ("n_products",), _col("n_products"), "n_products",
              phrase=N_("{v} products (typical {ref})")),
    Covariate("digital_share", N_("share of transactions in digital channels"), N_("all vs none (0-1)"), ("digital_share",),
              _col("digital_share"), "digital_share", lambda v: f"{100 * v:.0f}%",
              phrase=N_("{v} of transactions digital (typical {ref})")),
    Covariate("age_under_30", N_("aged under 30"), N_("yes vs 30-64"), ("age", "customer_type"), _age(0, 30), "age_under_30",
              binary=True),
    Covariate("age_65_plus", N_("aged 65 or over"), N_("yes vs 30-64"), ("age", "customer_type"), _age(65, 200), "age_65_plus",
              binary=True),
    Covariate("corporate", N_("corporate customer"), N_("yes vs individual 30-64"), ("customer_type",),
              lambda f, w: f["customer_type"].eq("corporate").astype(float), "corporate", binary=True),
    Covariate("log_aum", N_("assets with the bank"), N_("x2.7 the value"), ("aum_avg",),
              lambda f, w: np.log1p(pd.to_numeric(f["aum_avg"], errors="coerce").astype(float).fillna(0).clip(lower=0)),
              "aum_avg", _money, phrase=N_("assets {v} (typical {ref})")),
    Covariate("aum_change_3m", N_("change in assets over 3 months"), N_("+10 points of change"),
              ("aum_change_3m",),
              lambda f, w: 10 * pd.to_numeric(f["aum_change_3m"], errors="coerce").astype(float).fillna(0).clip(-1, 1),
              "aum_change_3m", lambda v: f"{100 * v:+.0f}%", phrase=N_("assets {v} in 3 months (typical {ref})")),
    Covariate("log_recency", N_("days since the last transaction"), N_("x2.7 the value"), ("recency_days", "tenure_days"),
              _recency, "recency_days", phrase=N_("{v} days since last transaction (typical {ref})")),
    Covariate("log_frequency", N_("transactions in the last {w} days"), N_("x2.7 the value"), ("frequency",),
              lambda f, w: np.log1p(pd.to_numeric(f["frequency"], errors="coerce").astype(float).fillna(0)),
              "frequency", phrase=N_("{v} transactions in {w} days (typical {ref})")),
    Covariate("products_closed_90d", N_("products closed in the last 90 days"), N_("1 product"), ("products_closed_90d",),
              _col("products_closed_90d"), "products_closed_90d", phrase=N_("{v} products closed in 90 days")),
    Covariate("treated_before", N_("treated by an earlier retention campaign"), N_("yes vs no"), ("treated_before",),
              _col("treated_before"), "treated_before", binary=True),
]
REGISTRY: dict[str, Covariate] = {c.name: c for c in _REG}

#: Covariates that explain churn from who the customer is (cohort model, 20_churn).
EXPLANATORY = ("complaints_window", "n_products", "digital_share", "age_under_30", "age_65_plus", "corporate",
               "log_aum")
#: Covariates of current behaviour for dynamic prediction (landmark model, early warning).
DYNAMIC = EXPLANATORY + ("aum_change_3m", "log_recency", "log_frequency", "complaints_90d", "products_closed_90d",
                         "treated_before")


def label(name: str, window_days: int = 365) -> str:
    """Words for covariate ``name``."""
    c = REGISTRY.get(name)
    return c.label.format(w=window_days) if c else name.replace("_", " ")


def unit(name: str) -> str:
    """What one unit of covariate ``name`` is (the step a hazard ratio refers to)."""
    c = REGISTRY.get(name)
    return c.unit if c else "1 unit"


def _patterns() -> list[tuple[re.Pattern, str]]:
    out = []
    for c in _REG:
        for text in (c.label, c.unit):
            rx = re.compile(re.escape(text).replace(re.escape("{w}"), r"(?P<w>\d+)") + r"\Z")
            out.append((rx, text))
    return out


_PATTERNS = _patterns()


def display(text: str) -> str:
    """A covariate's label or unit as ``label``/``unit`` wrote it (English, as the models' summaries hold it),
    in the run's language for a page; any other text as it is."""
    for rx, message in _PATTERNS:
        m = rx.match(str(text))
        if m:
            return _(message).format(**m.groupdict())
    return text


def design_matrix(frame: pd.DataFrame, covariates, window_days: int = 365, table: str = "frame") -> pd.DataFrame:
    """The numeric model matrix of ``covariates`` for each row of ``frame``.

    Returns
    -------
    DataFrame
        One float column per covariate, index of ``frame``.

    Raises
    ------
    DataContractError
        A needed column is missing, or a plain (non-registry) covariate is non-numeric or
        has missing values (with up to 3 example rows).
    """
    out = {}
    for name in covariates:
        spec = REGISTRY.get(name)
        if spec is not None and set(spec.needs) <= set(frame.columns):
            out[name] = np.asarray(spec.compute(frame, window_days), dtype=float)
            bad = ~np.isfinite(out[name])
            if bad.any():  # every rule fills its gaps; a gap left is a bug in the rule, named here
                raise DataContractError(f"{table}.{name}: {int(bad.sum())} row(s) break rule 'finite covariate value' "
                                        f"after its missing-value rule (from {', '.join(spec.needs)})")
            continue
        if spec is not None and name not in frame.columns:
            missing = [c for c in spec.needs if c not in frame.columns]
            raise DataContractError(f"{table}.{missing[0]}: column missing (rule 'covariate {name} needs "
                                    f"{', '.join(spec.needs)}'); build the frame with features")
        if name not in frame.columns:
            raise DataContractError(f"{table}.{name}: column missing (rule 'every covariate is a frame column or one "
                                    f"of {', '.join(sorted(REGISTRY))}')")
        v = frame[name]
        if v.dtype == bool or str(v.dtype) == "boolean":
            v = v.astype(float)
        num = pd.to_numeric(v, errors="coerce")
        bad = frame.loc[num.isna() | ~np.isfinite(num.astype(float)), [c for c in ("customer_id", name) if c in frame]]
        if len(bad):
            raise DataContractError(
                f"{table}.{name}: {len(bad)} row(s) break rule 'finite number' (impute or drop them first), e.g.\n"
                f"{bad.head(3).to_string(index=False)}", problems=bad.head(5).to_dict("records"))
        out[name] = num.astype(float).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def frame_columns(covariates) -> list[str]:
    """The frame columns ``design_matrix``, ``shown_values`` and ``imputed_counts`` read for ``covariates``: what a
    scorer must keep of each customer (a registry covariate's ``needs`` and ``shown`` column, a plain one itself)."""
    out = []
    for name in covariates:
        spec = REGISTRY.get(name)
        out += [name] if spec is None else [*spec.needs, spec.shown]
    return list(dict.fromkeys(out))


def imputed_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Customers whose covariate value came from a missing-value rule rather than their data.

    Returns
    -------
    dict
        ``{"age": n}``: individual customers without an age, counted in the 30-64 reference
        band; empty when every value was observed.
    """
    out = {}
    if {"age", "customer_type"} <= set(frame.columns):
        n = int((frame["customer_type"].eq("individual") & pd.to_numeric(frame["age"], errors="coerce").isna()).sum())
        if n:
            out["age"] = n
    return out


def imputed_notes(frame: pd.DataFrame) -> list[str]:
    """The missing-value rule in words, for a model's notes (empty when nothing was imputed)."""
    n = imputed_counts(frame).get("age", 0)
    if not n:
        return []
    share = n / max(1, int(frame["customer_type"].eq("individual").sum()))
    return [f"{n:,} individual customer(s) ({share:.1%}) have no age and are counted in the 30-64 reference "
            "band (neither age covariate set)"]


def record_imputation(facts, frame: pd.DataFrame, model: str = "cox") -> None:
    """Record, as a fact, how many customers had a covariate filled by its missing-value rule.

    Nothing is recorded when every covariate value was observed.
    """
    for col, n in imputed_counts(frame).items():
        facts.record(f"churn.{model}_{col}_imputed", n, "customers",
                     f"individual customers without an {col} in the {model} model's frame, counted in the 30-64 "
                     "reference band (neither age covariate set)", n=len(frame),
                     uncertainty="census count: no sampling error")


def shown_values(frame: pd.DataFrame, name: str, window_days: int = 365) -> pd.Series:
    """The value a reviewer reads for covariate ``name`` (e.g. AUM rather than log AUM)."""
    spec = REGISTRY.get(name)
    if spec is None:
        return pd.to_numeric(frame[name], errors="coerce")
    if spec.shown in frame.columns and not spec.binary:
        return pd.to_numeric(frame[spec.shown], errors="coerce")
    return spec.compute(frame, window_days)


def formatter(name: str) -> Callable:
    spec = REGISTRY.get(name)
    return spec.fmt if spec else (lambda v: f"{v:,.3g}")


def is_binary(name: str, values: np.ndarray | None = None) -> bool:
    spec = REGISTRY.get(name)
    if spec is not None:
        return spec.binary
    return values is not None and set(np.unique(values[~np.isnan(values)])) <= {0.0, 1.0}
