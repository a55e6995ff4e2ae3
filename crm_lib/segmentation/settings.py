"""Segmentation settings: cluster, lifecycle and RFM rules, and the tier override file.

Value-tier thresholds are the run parameter ``tiers`` (``parameters/defaults.yaml``);
everything else specific to segmentation lives in its own files so it can change
without touching the run parameters:

- ``parameters/segmentation.yaml``: clustering features and k selection, lifecycle rules;
- ``parameters/rfm_segments.yaml``: the (R, F) score map to named RFM segments;
- ``parameters/tier_overrides.yaml``: relationship-manager tier assignments, keyed by
  pseudonymous customer id.

A file that breaks its rules raises ``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd

from crm_lib import paramfiles
from crm_lib.errors import ConfigError, DataContractError

logger = logging.getLogger(__name__)

SETTINGS_FILE = "segmentation.yaml"
RFM_FILE = "rfm_segments.yaml"
OVERRIDES_FILE = "tier_overrides.yaml"

DEFAULTS: dict = {
    "overrides_file": OVERRIDES_FILE,
    "no_balance": "raise",
    "rfm": {"bins": 5, "segments_file": RFM_FILE, "by": "customer_type"},
    "clusters": {
        "features": {"individual": ["age", "log_income", "log_aum", "log_avg_ticket"],
                     "corporate": ["log_revenue", "log_aum", "log_avg_ticket"]},
        "k_range": [2, 8], "algorithm": "kmeans", "pca_components": None, "n_bootstrap": 20,
        "min_stability": 0.80, "min_silhouette": 0.25, "min_cluster_size": 10,
        "selection_sample": 10_000, "silhouette_sample": 4_000, "minibatch_threshold": 200_000,
    },
    "lifecycle": {
        "onboarding_days": 90, "dormant_days": 90, "growing_tenure_days": 730,
        "growing_aum_change_3m": 0.10, "at_risk_aum_change_3m": -0.30, "at_risk_complaints_90d": 2,
        "at_risk_churn_score": None, "closed_lookback_days": 365,
    },
    "migration": {"n_bootstrap": 2000},
}


def _dir(parameters_dir: str | Path | None) -> Path:
    return Path(parameters_dir) if parameters_dir else paramfiles.default_parameters_dir()


def _merge(base: dict, over: dict, where: str, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            raise ConfigError(f"{where}: {prefix}{k}: unknown key (known: {', '.join(sorted(base))})")
        if isinstance(base[k], dict) and k != "features":
            if not isinstance(v, dict):
                raise ConfigError(f"{where}: {prefix}{k}: expected a mapping")
            out[k] = _merge(base[k], v, where, f"{prefix}{k}.")
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_settings(path: str | Path | None = None, parameters_dir: str | Path | None = None) -> dict:
    """The segmentation settings: ``parameters/segmentation.yaml`` over the built-in defaults.

    Parameters
    ----------
    path : str or Path, optional
        The settings file; default ``<parameters_dir>/segmentation.yaml`` (the built-in
        defaults alone when that file does not exist).
    parameters_dir : str or Path, optional
        Folder of the parameter files; default ``crm_lib.paramfiles.default_parameters_dir()``.

    Returns
    -------
    dict
        Keys ``overrides_file``, ``no_balance``, ``rfm``, ``clusters``, ``lifecycle``,
        ``migration`` (see ``DEFAULTS``); file names resolved to absolute paths.

    Raises
    ------
    ConfigError
        Unknown keys or values out of range, naming the file and key.
    """
    pdir = _dir(parameters_dir)
    p = Path(path) if path else pdir / SETTINGS_FILE
    s = _merge(DEFAULTS, paramfiles.read_yaml(p), str(p)) if (path or p.exists()) else copy.deepcopy(DEFAULTS)
    c, lc = s["clusters"], s["lifecycle"]
    k_lo, k_hi = (list(c["k_range"]) + [None, None])[:2]
    if not (isinstance(k_lo, int) and isinstance(k_hi, int) and 2 <= k_lo <= k_hi):
        raise ConfigError(f"{p}: clusters.k_range: expected [low, high] integers with 2 <= low <= high, "
                          f"got {c['k_range']}")
    if c["algorithm"] not in ("kmeans", "gmm"):
        raise ConfigError(f"{p}: clusters.algorithm: expected 'kmeans' or 'gmm', got {c['algorithm']!r}")
    for key, lo, hi in (("min_stability", -1, 1), ("min_silhouette", -1, 1)):
        if not lo <= float(c[key]) <= hi:
            raise ConfigError(f"{p}: clusters.{key}: must be in [{lo}, {hi}], got {c[key]}")
    for key in ("n_bootstrap", "min_cluster_size", "selection_sample", "silhouette_sample", "minibatch_threshold"):
        if int(c[key]) < 1:
            raise ConfigError(f"{p}: clusters.{key}: must be a positive integer, got {c[key]}")
    if not isinstance(c["features"], dict) or not all(isinstance(v, list) and v for v in c["features"].values()):
        raise ConfigError(f"{p}: clusters.features: expected {{customer_type: [feature, ...]}}")
    for key in ("onboarding_days", "dormant_days", "growing_tenure_days", "closed_lookback_days"):
        if int(lc[key]) < 0:
            raise ConfigError(f"{p}: lifecycle.{key}: must be >= 0 days, got {lc[key]}")
    if s["no_balance"] not in ("raise", "lowest", "drop"):
        raise ConfigError(f"{p}: no_balance: expected 'raise', 'lowest' or 'drop', got {s['no_balance']!r}")
    for key in ("overrides_file",):
        f = Path(s[key])
        s[key] = str(f if f.is_absolute() else pdir / f)
    f = Path(s["rfm"]["segments_file"])
    s["rfm"]["segments_file"] = str(f if f.is_absolute() else pdir / f)
    s["source"] = str(p) if p.exists() else "built-in defaults"
    return s


def load_rfm_map(path: str | Path | None = None, bins: int | None = None) -> pd.DataFrame:
    """The RFM score map: which (R, F) score cells make each named segment.

    The file has ``bins`` and ``segments: {name: {r: [low, high], f: [low, high],
    description: text}}``, in display order (best first). Every (R, F) cell of the
    ``bins x bins`` grid must belong to exactly one segment.

    Returns
    -------
    DataFrame
        One row per cell: ``r_score``, ``f_score`` (1..bins), ``segment``, ``order``
        (position in the file), ``description``.

    Raises
    ------
    ConfigError
        Malformed ranges, cells outside the grid, overlaps or gaps (listed).
    """
    p = Path(path) if path else paramfiles.default_parameters_dir() / RFM_FILE
    data = paramfiles.read_yaml(p)
    b = int(data.get("bins", bins or 5))
    if bins is not None and b != bins:
        raise ConfigError(f"{p}: bins: the map is for {b} score bins but {bins} were asked for")
    segs = data.get("segments")
    if not isinstance(segs, dict) or not segs:
        raise ConfigError(f"{p}: segments: expected a mapping of segment name to {{r: [lo, hi], f: [lo, hi]}}")
    rows = []
    for i, (name, spec) in enumerate(segs.items()):
        if not isinstance(spec, dict) or not {"r", "f"} <= set(spec):
            raise ConfigError(f"{p}: segments.{name}: expected r: [lo, hi] and f: [lo, hi]")
        rng = {}
        for axis in ("r", "f"):
            v = spec[axis]
            v = [v, v] if isinstance(v, int) else list(v)
            if len(v) != 2 or not all(isinstance(x, int) for x in v) or not 1 <= v[0] <= v[1] <= b:
                raise ConfigError(f"{p}: segments.{name}.{axis}: expected [lo, hi] with 1 <= lo <= hi <= {b}, "
                                  f"got {spec[axis]!r}")
            rng[axis] = v
        for r in range(rng["r"][0], rng["r"][1] + 1):
            for f in range(rng["f"][0], rng["f"][1] + 1):
                rows.append({"r_score": r, "f_score": f, "segment": str(name), "order": i,
                             "description": str(spec.get("description", ""))})
    cells = pd.DataFrame(rows)
    dup = cells[cells.duplicated(["r_score", "f_score"], keep=False)]
    if len(dup):
        ex = dup.groupby(["r_score", "f_score"])["segment"].apply(list).head(3)
        raise ConfigError(f"{p}: segments overlap in {dup[['r_score', 'f_score']].drop_duplicates().shape[0]} cell(s), "
                          f"e.g. (R, F) {dict(ex)}")
    full = {(r, f) for r in range(1, b + 1) for f in range(1, b + 1)}
    gaps = sorted(full - set(zip(cells["r_score"], cells["f_score"])))
    if gaps:
        raise ConfigError(f"{p}: segments leave {len(gaps)} (R, F) cell(s) unnamed, e.g. {gaps[:3]}; "
                          "every cell of the grid needs a segment")
    return cells.sort_values(["r_score", "f_score"]).reset_index(drop=True)


def load_overrides(path: str | Path | None = None) -> pd.DataFrame:
    """Relationship-manager tier overrides from a YAML file keyed by pseudonymous customer id.

    The file has ``overrides: {<pseudonym>: {tier: <tier>, reason: <text>, until: <date, optional>}}``.
    A missing file means no overrides.

    Returns
    -------
    DataFrame
        ``customer_id`` (pseudonym), ``tier``, ``reason``, ``until`` (date or NaT: no end).

    Raises
    ------
    ConfigError
        Malformed entries (a raw ``CUS...`` identifier is refused: overrides are keyed by
        pseudonym so that the file holds no raw identifiers).
    """
    cols = ["customer_id", "tier", "reason", "until"]
    p = Path(path) if path else paramfiles.default_parameters_dir() / OVERRIDES_FILE
    if not p.exists():
        return pd.DataFrame(columns=cols)
    data = paramfiles.read_yaml(p)
    extra = set(data) - {"overrides"}
    if extra:
        raise ConfigError(f"{p}: unknown key(s) {sorted(extra)} (expected 'overrides')")
    ov = data.get("overrides") or {}
    if not isinstance(ov, dict):
        raise ConfigError(f"{p}: overrides: expected a mapping of pseudonymous customer id to {{tier, reason}}")
    rows = []
    for cid, spec in ov.items():
        where = f"{p}: overrides.{cid}"
        if not isinstance(spec, dict) or "tier" not in spec:
            raise ConfigError(f"{where}: expected {{tier: <tier>, reason: <text>}}")
        unknown = set(spec) - {"tier", "reason", "until", "assigned_by"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        if str(cid).upper().startswith("CUS"):
            raise ConfigError(f"{where}: looks like a raw customer id; key overrides by the pseudonym shown in "
                              "reports (crm_lib.data.privacy.pseudonymise_id)")
        try:
            until = pd.Timestamp(spec["until"]) if spec.get("until") else pd.NaT
        except (ValueError, TypeError):
            raise ConfigError(f"{where}.until: not a date: {spec['until']!r}") from None
        rows.append({"customer_id": str(cid), "tier": str(spec["tier"]), "reason": str(spec.get("reason", "")),
                     "until": until})
    return pd.DataFrame(rows, columns=cols)


def check_thresholds(thresholds) -> dict:
    """Validate ``{customer_type: {tier: lower bound of average AUM}}`` and return it as floats.

    Raises
    ------
    DataContractError
        Not a mapping, an empty type, a first bound other than 0, or bounds that are not
        strictly increasing (the rule and the offending pair are named).
    """
    where = "parameters.tiers"
    if not isinstance(thresholds, dict) or not thresholds:
        raise DataContractError(f"{where}: expected {{customer_type: {{tier: lower bound}}}}, got {thresholds!r}")
    out = {}
    for ctype, tiers in thresholds.items():
        if not isinstance(tiers, dict) or not tiers:
            raise DataContractError(f"{where}.{ctype}: expected {{tier: lower bound of average AUM}}, got {tiers!r}")
        try:
            vals = [float(v) for v in tiers.values()]
        except (TypeError, ValueError):
            raise DataContractError(f"{where}.{ctype}: lower bounds must be numbers, got {tiers}") from None
        if vals[0] != 0:
            raise DataContractError(f"{where}.{ctype}: rule 'the first tier starts at 0' is broken: "
                                    f"{list(tiers)[0]} starts at {vals[0]:,.0f}")
        names = list(tiers)
        bad = [(names[i], vals[i], names[i + 1], vals[i + 1]) for i in range(len(vals) - 1) if vals[i + 1] <= vals[i]]
        if bad:
            a, va, b, vb = bad[0]
            raise DataContractError(f"{where}.{ctype}: rule 'lower bounds strictly increasing' is broken: "
                                    f"{b} ({vb:,.0f}) does not exceed {a} ({va:,.0f}); got {tiers}")
        out[str(ctype)] = dict(zip(names, vals))
    return out
