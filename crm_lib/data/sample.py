"""Model samples: a model that cannot take every customer of a large bank is fitted on a stratified sample.

A bank of 10 million customers gives a survival frame of 10 million rows and a landmark frame of 40 million; a
Cox fit with cluster-robust errors, its residual checks and the parametric models on them take hours and more
memory than one machine has. Their estimates do not need every customer: the standard error of a hazard ratio
falls as one over the square root of the events, so a sample of a million customers estimates it to within a
few per cent of the full-data error. The analyses that describe the book (counts, Kaplan-Meier retention, the
period's churn) and the scores (every customer on the early-warning list) still use everyone.

The design, ``stratified_customer_sample``:

* **Proportional allocation.** The population is split into strata (the customer type by default), and each
  stratum keeps ``round(rate x its size)`` customers (largest remainders, so the total is exactly the cap):
  every customer has the same inclusion probability, the sample is *self-weighting* (no weights in the fit),
  and each stratum's share is the population's, not only in expectation.
* **Selection by the keyed pseudonym.** Within a stratum the customers with the smallest pseudonyms are kept.
  A pseudonym is a keyed hash of the identifier (``crm_lib.data.privacy``), so its order is independent of
  everything a model looks at, and the same customers are drawn on every engine (the pseudonyms are the same
  on DuckDB and Spark), in every run of the same period, and at every landmark of a stacked frame.
* **Whole customers.** A frame in which a customer repeats (one row per landmark) is sampled by customer.

The sample's size, rate and strata are returned in a ``SampleNote`` that the model's notes (and so the page)
carry; the model's n and intervals are those of the sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlglot

from crm_lib.data.privacy import pseudonym_sql
from crm_lib.data.sqlsafe import lit
from crm_lib.errors import ConfigError, DataContractError
from crm_lib.fmt import gettext, integer, pct

DEFAULT_STRATA = ("customer_type",)


def _pid(column: str, key: str) -> str:
    """The pseudonym of ``column`` in Spark SQL (the dialect the conditions below are written in)."""
    return sqlglot.transpile(pseudonym_sql(column, key), read="duckdb", write="spark")[0]


def _in_dialect(cond: str, dialect: str) -> str:
    return cond if dialect == "spark" else sqlglot.transpile(cond, read="spark", write=dialect)[0]


@dataclass(frozen=True)
class SampleNote:
    """What a sample kept: ``n`` of ``population`` customers (``rate`` = n / population), by ``strata``."""

    n: int
    population: int
    strata: tuple
    by_stratum: dict          # stratum label -> (kept, population)
    last_kept: dict = None    # stratum values (a tuple, None for a missing value) -> the largest pseudonym kept

    @property
    def rate(self) -> float:
        return self.n / self.population if self.population else 1.0

    def text(self, localised: bool = False) -> str:
        """The sample in one clause: English (a model's ``notes_``, the log), or in the run's language for a page
        (``localised=True``; the strata's values stand as the bank spells them)."""
        if not localised:
            shares = ", ".join(f"{k} {kept:,} of {pop:,}" for k, (kept, pop) in self.by_stratum.items())
            return (f"fitted on a stratified sample of {self.n:,} of {self.population:,} customers ({self.rate:.1%}, "
                    f"proportional allocation by {' x '.join(self.strata)}: {shares}; selected by keyed pseudonym, "
                    "self-weighting); its n and intervals are the sample's")
        shares = ", ".join(gettext("{stratum} {kept} of {population}").format(
            stratum=k, kept=integer(kept), population=integer(pop)) for k, (kept, pop) in self.by_stratum.items())
        strata = " x ".join(gettext("customer type") if c == "customer_type" else c for c in self.strata)
        return gettext("fitted on a stratified sample of {n} of {population} customers ({rate}, proportional "
                       "allocation by {strata}: {shares}; selected by keyed pseudonym, self-weighting); its n and "
                       "intervals are the sample's").format(n=integer(self.n), population=integer(self.population),
                                                              rate=pct(self.rate), strata=strata, shares=shares)

    def where(self, key: str, column: str = "customer_id", dialect: str = "spark") -> str:
        """A condition on the ``customers`` table (Spark SQL, or ``dialect``) that holds for every kept customer
        (and for customers outside the sampled population whose pseudonyms fall in the same ranges, which a join
        to the sample drops): a query that computes per-customer features reads only these customers' rows.
        ``key`` is the pseudonym key the sample was drawn under; values enter as SQL literals
        (``crm_lib.data.sqlsafe.lit``)."""
        pid = _pid(column, key)
        terms = []
        for values, last in sorted(self.last_kept.items(), key=lambda kv: repr(kv[0])):
            conds = [f"{c} IS NULL" if v is None else f"CAST({c} AS STRING) = {lit(v, 'spark')}"
                     for c, v in zip(self.strata, values)]
            terms.append("(" + " AND ".join([*conds, f"{pid} <= {lit(last, 'spark')}"]) + ")")
        return _in_dialect("(" + (" OR ".join(terms) or "FALSE") + ")", dialect)


def check_cap(max_customers, key: str = "model_sample_customers") -> int | None:
    """``None`` or 0 (never sample) or a whole number of at least 100 customers; else ``ConfigError``."""
    if max_customers in (None, 0):
        return None
    try:
        cap = int(max_customers)
    except (TypeError, ValueError):
        cap = -1
    if cap != max_customers or cap < 100:
        raise ConfigError(f"{key}: a whole number of at least 100 customers (or 0 for never), "
                          f"got {max_customers!r}")
    return cap


def _allocation(sizes: pd.Series, cap: int) -> pd.Series:
    """Per stratum ``round(cap x size / total)`` by largest remainders: sums to ``cap`` exactly."""
    quota = sizes * (cap / sizes.sum())
    base = np.floor(quota).astype(int)
    short = int(cap - base.sum())
    if short:
        order = (quota - base).sort_values(ascending=False, kind="stable").index[:short]
        base.loc[order] += 1
    return base


def sample_ids(customers: pd.DataFrame, max_customers: int | None, strata=DEFAULT_STRATA,
               id_col: str = "customer_id", table: str = "frame") -> tuple[pd.Index | None, SampleNote | None]:
    """The pseudonyms a stratified sample of at most ``max_customers`` keeps from ``customers`` (one row per
    customer, or repeated rows of the same customer: the first row's strata count).

    Returns ``(None, None)`` when no sample is needed (the population is within the cap, or no cap).
    """
    cap = check_cap(max_customers)
    strata = tuple([strata] if isinstance(strata, str) else strata)
    missing = [c for c in (id_col, *strata) if c not in customers.columns]
    if missing:
        raise DataContractError(f"{table}: column(s) {missing} needed to draw the model sample are missing")
    people = customers.drop_duplicates(id_col)[[id_col, *strata]]
    if cap is None or len(people) <= cap:
        return None, None
    cols = people[list(strata)].astype(object)
    cols = cols.where(cols.notna(), "unknown").astype(str)
    label = cols.iloc[:, 0].str.cat([cols[c] for c in cols.columns[1:]], sep=" / ")   # vectorised, no row loop
    sizes = label.value_counts().sort_index()
    quota = _allocation(sizes, cap)
    ordered = people.assign(_s=label.to_numpy()).sort_values([id_col], kind="stable")
    rank = ordered.groupby("_s", sort=False).cumcount()
    kept = ordered[rank.to_numpy() < ordered["_s"].map(quota).to_numpy()]
    last = kept.groupby("_s", sort=False).tail(1)
    last_kept = {tuple(None if pd.isna(v) else str(v) for v in row[list(strata)]): row[id_col]
                 for _, row in last.iterrows()}
    note = SampleNote(n=len(kept), population=len(people), strata=strata,
                      by_stratum={k: (int(quota[k]), int(sizes[k])) for k in sizes.index}, last_kept=last_kept)
    return pd.Index(kept[id_col]), note


def stratified_customer_sample(frame: pd.DataFrame, max_customers: int | None, strata=DEFAULT_STRATA,
                               id_col: str = "customer_id", table: str = "frame"
                               ) -> tuple[pd.DataFrame, SampleNote | None]:
    """``frame`` restricted to a proportional stratified sample of at most ``max_customers`` customers (every row of
    a kept customer), and the ``SampleNote``; the frame itself, and ``None``, when it is within the cap."""
    ids, note = sample_ids(frame, max_customers, strata, id_col, table)
    if ids is None:
        return frame, None
    out = frame[frame[id_col].isin(ids)].reset_index(drop=True)
    out.attrs["model_sample"] = note
    return out, note


@dataclass(frozen=True)
class PseudonymRange:
    """The customers whose pseudonyms lie in ``[low, high)`` (``None``: open): one part of a book processed part by
    part. Parts in ascending order, concatenated, give the rows in pseudonym order, as one query ordered by
    pseudonym does."""

    low: str | None
    high: str | None

    def where(self, key: str, column: str = "customer_id", dialect: str = "spark") -> str:
        """The condition on ``customers`` (Spark SQL, or ``dialect``); bounds enter as SQL literals."""
        pid = _pid(column, key)
        conds = ([f"{pid} >= {lit(self.low, 'spark')}"] if self.low else []) + \
                ([f"{pid} < {lit(self.high, 'spark')}"] if self.high else [])
        return _in_dialect("(" + (" AND ".join(conds) or "TRUE") + ")", dialect)

    def on_pseudonyms(self, column: str = "customer_id") -> str:
        """The condition on a column that holds pseudonyms already (a kept result's), in DuckDB SQL."""
        conds = ([f"{column} >= {lit(self.low, 'duckdb')}"] if self.low else []) + \
                ([f"{column} < {lit(self.high, 'duckdb')}"] if self.high else [])
        return "(" + (" AND ".join(conds) or "TRUE") + ")"


def pseudonym_parts(n_parts: int) -> list[PseudonymRange]:
    """``n_parts`` (1-256) ranges of pseudonyms of about equal size (a pseudonym's hex digits are uniform), in
    ascending order; one part (everyone) when ``n_parts`` is 1."""
    n = max(1, min(int(n_parts), 256))
    cuts = [f"P{round(256 * k / n):02x}" for k in range(1, n)]
    bounds = [None, *cuts, None]
    return [PseudonymRange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def part_query(wh, everyone, part, filtered) -> str:
    """The query for the customers of ``part``. Inside ``wh.kept_results()`` and for a ``PseudonymRange``: the
    rows of ``everyone()``'s result (computed once, kept by the engine) whose pseudonyms are in the range, in
    pseudonym order, so a book built in k parts costs one query and k cheap reads, not k queries; else
    ``filtered()``, the query restricted in the warehouse (a model sample's, or a part outside the block)."""
    name = wh.kept(everyone()) if isinstance(part, PseudonymRange) and wh.keeping else None
    if name is None:
        return filtered()
    return f"SELECT * FROM {name} WHERE {part.on_pseudonyms()} ORDER BY customer_id"


def localised_notes(notes, sample: SampleNote | None) -> list[str]:
    """A model's notes for a page: the sample's clause in the run's language, the others as recorded."""
    english = sample.text() if sample is not None else None
    return [sample.text(localised=True) if x == english else x for x in notes]

