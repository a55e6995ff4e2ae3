"""Clustering features derived from the feature table, and names for clusters.

Money amounts enter clustering on a log scale (``log1p``), the average transaction as
``monetary / frequency`` (missing without transactions); every derived feature states
its definition and the words that describe a cluster low or high on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError
from crm_lib.fmt import N_, _, get_locale
from crm_lib.segmentation._validate import require_columns


def _log1p(s: pd.Series) -> pd.Series:
    return np.log1p(pd.to_numeric(s, errors="coerce").astype(float).clip(lower=0))


def _avg_ticket(f: pd.DataFrame) -> pd.Series:
    freq = pd.to_numeric(f["frequency"], errors="coerce").astype(float)
    return f["monetary"].astype(float) / freq.where(freq > 0)


@dataclass(frozen=True)
class Derived:
    """A clustering feature computed from feature-table columns."""

    columns: tuple
    compute: Callable
    definition: str
    words: tuple  # a cluster very low / low / high / very high on this feature (|z| >= 1.5 is 'very')


DERIVED: dict[str, Derived] = {
    "age": Derived(("age",), lambda f: pd.to_numeric(f["age"], errors="coerce").astype(float),
                   "age (years)", (N_("youngest"), N_("younger"), N_("older"), N_("oldest"))),
    "log_income": Derived(("income",), lambda f: _log1p(f["income"]), "log(1 + annual income)",
                          (N_("very low income"), N_("lower income"), N_("higher income"), N_("very high income"))),
    "log_revenue": Derived(("revenue",), lambda f: _log1p(f["revenue"]), "log(1 + annual revenue)",
                           (N_("very small revenue"), N_("smaller revenue"), N_("larger revenue"), N_("very large revenue"))),
    "log_aum": Derived(("aum_avg",), lambda f: _log1p(f["aum_avg"]), "log(1 + average AUM)",
                       (N_("very low AUM"), N_("lower AUM"), N_("higher AUM"), N_("very high AUM"))),
    "log_avg_ticket": Derived(("monetary", "frequency"), lambda f: _log1p(_avg_ticket(f)),
                              "log(1 + mean everyday transaction amount in the window); missing without "
                              "transactions (imputed with the median)",
                              (N_("very small tickets"), N_("smaller tickets"), N_("larger tickets"), N_("very large tickets"))),
    "log_frequency": Derived(("frequency",), lambda f: _log1p(f["frequency"]),
                             "log(1 + everyday transactions in the window)",
                             (N_("rarely active"), N_("less active"), N_("more active"), N_("very active"))),
    "digital_share": Derived(("digital_share",), lambda f: f["digital_share"].astype(float),
                             "share of window transactions on mobile or online (0-1)",
                             (N_("branch-only"), N_("branch-led"), N_("digital"), N_("digital-only"))),
    "n_products": Derived(("n_products",), lambda f: f["n_products"].astype(float), "open products",
                          (N_("single product"), N_("fewer products"), N_("more products"), N_("many products"))),
    "tenure_years": Derived(("tenure_days",), lambda f: f["tenure_days"].astype(float) / 365.25,
                            "years since onboarding", (N_("very new"), N_("newer"), N_("long-standing"), N_("longest-standing"))),
}


#: the words of cluster names, marked for the catalogue (``DERIVED[...].words`` and 'typical')
TYPICAL = N_("typical")
_NAME_WORDS = frozenset(w for d in DERIVED.values() for w in d.words) | {TYPICAL}
#: clustering features as figures label them (the name without ``log_``, as words)
FEATURE_LABELS = {"age": N_("age"), "log_income": N_("income"), "log_revenue": N_("revenue"), "log_aum": N_("aum"),
                  "log_avg_ticket": N_("avg ticket"), "log_frequency": N_("frequency"),
                  "digital_share": N_("digital share"), "n_products": N_("n products"),
                  "tenure_years": N_("tenure years")}


def feature_label(name) -> str:
    """A clustering feature as a figure's label (``log_income`` -> ``income``), in the run's language."""
    if name in FEATURE_LABELS:
        return _(FEATURE_LABELS[name])
    return str(name).replace("_", " ").replace("log ", "")


def cluster_name_label(name) -> str:
    """A cluster name from ``name_clusters`` ('oldest, lower income', 'typical (I2)') in the run's language.

    Names are stored in English (they are computed when the clusters are fitted); each word is
    translated where the name is shown, the label of a clash kept: 'oldest、lower income（I2）'.
    """
    if get_locale() == "en" or not isinstance(name, str):
        return name
    body, label = name, ""
    if name.endswith(")") and " (" in name:
        body, label = name[:-1].rsplit(" (", 1)
    words = [(_(w) if w in _NAME_WORDS else w) for w in body.split(", ")]
    return "、".join(words) + (f"（{label}）" if label else "")


def feature_columns(names) -> list[str]:
    """Feature-table columns the clustering features ``names`` are computed from."""
    cols = []
    for n in names:
        cols += list(DERIVED[n].columns) if n in DERIVED else [n]
    return list(dict.fromkeys(cols))


def cluster_features(features: pd.DataFrame, names) -> pd.DataFrame:
    """The clustering features ``names`` computed from the feature table.

    Each name is a key of ``DERIVED`` (logs and ratios with their definitions) or a
    numeric column of ``features`` used as is.

    Returns
    -------
    DataFrame with the same index as ``features`` and one float column per name.

    Raises
    ------
    DataContractError
        An unknown name, a missing source column or a non-numeric column.
    """
    require_columns(features, feature_columns(names), why="clustering features")
    out = {}
    for n in names:
        if n in DERIVED:
            out[n] = DERIVED[n].compute(features)
        elif pd.api.types.is_numeric_dtype(features[n]) or pd.api.types.is_bool_dtype(features[n]):
            out[n] = features[n].astype(float)
        else:
            raise DataContractError(f"features.{n}: rule 'numeric clustering feature' is broken "
                                    f"(dtype {features[n].dtype}); known derived features: {', '.join(DERIVED)}")
    return pd.DataFrame(out, index=features.index)


def name_clusters(zcentroids: pd.DataFrame, top: int = 2, min_z: float = 0.3, very_z: float = 1.5) -> pd.Series:
    """A short, unique name per cluster from its most distinctive features.

    The features with the largest standardised centroid (|z| >= ``min_z``) are described
    with ``DERIVED[...].words``: 'very' words from |z| >= ``very_z`` (e.g. 'oldest,
    lower income'); a cluster near the mean on everything is 'typical'. Names are unique
    as sets of words: a clash takes the next feature, then the label.
    """
    def words(row: pd.Series, n: int) -> list[str]:
        parts = []
        for f in row.abs().sort_values(ascending=False).index[:n]:
            z = row[f]
            if abs(z) < min_z:
                break
            w = DERIVED[f].words if f in DERIVED else (f"very low {f}", f"low {f}", f"high {f}", f"very high {f}")
            parts.append(w[(2 if z > 0 else 1) + (1 if z >= very_z else -1 if z <= -very_z else 0)])
        return parts or [TYPICAL]

    parts = {lbl: words(r, top) for lbl, r in zcentroids.iterrows()}
    for extra in (1, 2):
        keys = pd.Series({lbl: frozenset(p) for lbl, p in parts.items()})
        clash = keys.duplicated(keep=False)
        for lbl in clash[clash].index:
            parts[lbl] = words(zcentroids.loc[lbl], top + extra)
    names = pd.Series({lbl: ", ".join(p) for lbl, p in parts.items()}, name="name").rename_axis("cluster")
    keys = pd.Series({lbl: frozenset(p) for lbl, p in parts.items()})
    clash = keys.duplicated(keep=False)
    names[clash[clash].index] = [f"{names[lbl]} ({lbl})" for lbl in clash[clash].index]
    return names
