"""Marketing rules: ``parameters/marketing.yaml`` over built-in defaults, checked key by key.

A file that breaks its rules raises ``ConfigError`` naming the file and the key; a product
in the margin table that the bank does not hold is caught by ``check_products`` once the
bank's products are known.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from crm_lib import paramfiles
from crm_lib.data.sample import check_cap
from crm_lib.errors import ConfigError

logger = logging.getLogger(__name__)

SETTINGS_FILE = "marketing.yaml"
RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")   # best to worst
RULE_FIELDS = ("customer_type", "min_age", "max_age", "tiers", "max_credit_rating")
PRODUCT_FIELDS = ("annual_margin", "aum_margin_rate")
OPEN_TABLES = ("products", "eligibility")   # keyed by product name; their fields are checked by validate_rules

DEFAULTS: dict = {
    "adoption": {"window_months": 12, "min_events": 20, "C": 1.0, "hgb_max_iter": 150,
                 "calibration_folds": 3, "max_train_rows": 100_000, "model_sample_customers": 1_000_000},
    "horizon_years": 1.0,
    "products": {},
    "eligibility": {},
    "targeting": {"cooling_off_days": 90, "fatigue_days": 90, "fatigue_cap": 2, "list_share": 0.10,
                  "planned_uplift": 0.02, "power": 0.8, "min_control": 50},
}


def _merge(base: dict, over: dict, where: str, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            raise ConfigError(f"{where}: {prefix}{k}: unknown key (known: {', '.join(sorted(base))})")
        if k in OPEN_TABLES and not prefix:   # keyed by product: an entry replaces the same product's entry
            if not isinstance(v, dict):
                raise ConfigError(f"{where}: {k}: expected a mapping of product to settings")
            out[k] = {**out[k], **copy.deepcopy(v)}
        elif isinstance(base[k], dict) and base[k]:
            if not isinstance(v, dict):
                raise ConfigError(f"{where}: {prefix}{k}: expected a mapping")
            out[k] = _merge(base[k], v, where, f"{prefix}{k}.")
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_rules(path: str | Path | None = None, parameters_dir: str | Path | None = None,
               overrides: dict | None = None) -> dict:
    """The marketing rules: ``parameters/marketing.yaml`` (or ``path``) over ``DEFAULTS``.

    Parameters
    ----------
    path : str or Path, optional
        The rules file; default ``<parameters_dir>/marketing.yaml``.
    parameters_dir : str or Path, optional
        Default ``crm_lib.paramfiles.default_parameters_dir()``.
    overrides : dict, optional
        Applied last, with the same checks (tests and ``--set``-style changes).

    Returns
    -------
    dict
        ``adoption``, ``horizon_years``, ``products`` ({product: {annual_margin, aum_margin_rate}}),
        ``eligibility`` ({product: {rule field: value}}), ``targeting`` and ``source`` (the file).

    Raises
    ------
    ConfigError
        An unknown key or rule field, a value out of range (a fatigue cap below 1, a share
        outside (0, 1], a rating not in AAA..CCC), naming the file and key.
    """
    pdir = Path(parameters_dir) if parameters_dir else paramfiles.default_parameters_dir()
    p = Path(path) if path else pdir / SETTINGS_FILE
    where = str(p)
    s = _merge(DEFAULTS, paramfiles.read_yaml(p), where) if (path or p.exists()) else copy.deepcopy(DEFAULTS)
    if overrides:
        s = _merge(s, overrides, f"{where} (overrides)")
    validate_rules(s, where)
    s["source"] = where if p.exists() else "built-in defaults"
    return s


def validate_rules(s: dict, where: str = "marketing rules") -> None:
    """Raise ``ConfigError`` naming ``where`` and the key for every rule that cannot be applied."""
    for prod, m in s["products"].items():
        if not isinstance(m, dict):
            raise ConfigError(f"{where}: products.{prod}: expected {{annual_margin: ..., aum_margin_rate: ...}}")
        bad = sorted(set(m) - set(PRODUCT_FIELDS))
        if bad:
            raise ConfigError(f"{where}: products.{prod}: unknown field(s) {bad} (known: {', '.join(PRODUCT_FIELDS)})")
        for f in PRODUCT_FIELDS:
            v = m.get(f, 0.0)
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"{where}: products.{prod}.{f}: expected a number >= 0, got {v!r}")
    for prod, rules in s["eligibility"].items():
        if not isinstance(rules, dict):
            raise ConfigError(f"{where}: eligibility.{prod}: expected a mapping of rule fields")
        bad = sorted(set(rules) - set(RULE_FIELDS))
        if bad:
            raise ConfigError(f"{where}: eligibility.{prod}: unknown rule field(s) {bad} "
                              f"(known: {', '.join(RULE_FIELDS)})")
        r = rules.get("max_credit_rating")
        if r is not None and r not in RATINGS:
            raise ConfigError(f"{where}: eligibility.{prod}.max_credit_rating: {r!r} is not one of {', '.join(RATINGS)}")
        for f in ("customer_type", "tiers"):
            if f in rules and not (isinstance(rules[f], list) and rules[f]):
                raise ConfigError(f"{where}: eligibility.{prod}.{f}: expected a non-empty list")
        if "min_age" in rules and "max_age" in rules and rules["min_age"] > rules["max_age"]:
            raise ConfigError(f"{where}: eligibility.{prod}: min_age={rules['min_age']} > max_age={rules['max_age']}")
    t, a = s["targeting"], s["adoption"]
    cap = t["fatigue_cap"]
    if not isinstance(cap, int) or cap < 1:
        raise ConfigError(f"{where}: targeting.fatigue_cap: {cap!r}; a cap of zero (or less) would exclude every "
                          "customer from every list; give the most contacts allowed per fatigue_days, at least 1")
    if not 0 < float(t["list_share"]) <= 1:
        raise ConfigError(f"{where}: targeting.list_share: must be in (0, 1], got {t['list_share']}")
    if not 0 < float(t["planned_uplift"]) < 1:
        raise ConfigError(f"{where}: targeting.planned_uplift: must be in (0, 1), got {t['planned_uplift']}")
    if not 0 < float(t["power"]) < 1:
        raise ConfigError(f"{where}: targeting.power: must be in (0, 1), got {t['power']}")
    for k in ("cooling_off_days", "fatigue_days", "min_control"):
        if not isinstance(t[k], int) or t[k] < 0:
            raise ConfigError(f"{where}: targeting.{k}: expected an integer >= 0, got {t[k]!r}")
    for k in ("window_months", "min_events", "hgb_max_iter", "calibration_folds", "max_train_rows"):
        if not isinstance(a[k], int) or a[k] < (2 if k == "calibration_folds" else 1):
            raise ConfigError(f"{where}: adoption.{k}: expected a positive integer, got {a[k]!r}")
    try:
        check_cap(a["model_sample_customers"], "adoption.model_sample_customers")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if not float(a["C"]) > 0:
        raise ConfigError(f"{where}: adoption.C: must be > 0, got {a['C']}")
    if not float(s["horizon_years"]) > 0:
        raise ConfigError(f"{where}: horizon_years: must be > 0, got {s['horizon_years']}")


def check_products(rules: dict, bank_products: list[str], bank_types=None) -> list[str]:
    """Raise ``ConfigError`` when the margin or eligibility table names a product the bank does not hold.

    A product whose eligibility rule allows only customer types the bank does not have (a
    corporate product in a retail-only book) is not an error: it cannot be offered to anyone
    here, so it is skipped, and returned.

    Returns
    -------
    list of str
        The products skipped because no customer of their type is in the bank.
    """
    held = set(bank_products)
    skipped = []
    if bank_types is not None:
        types = {str(t) for t in bank_types}
        for prod, rule in (rules.get("eligibility") or {}).items():
            allowed = (rule or {}).get("customer_type")
            if prod not in held and allowed and not types & {str(a) for a in allowed}:
                skipped.append(prod)
    for table in ("products", "eligibility"):
        unknown = sorted(set(rules[table]) - held - set(skipped))
        if unknown:
            raise ConfigError(f"{rules.get('source', 'marketing rules')}: {table}: product(s) {unknown} are not held "
                              f"by any customer of this bank (accounts.product has: {', '.join(sorted(held))}); "
                              "remove them or correct the spelling")
    return sorted(skipped)
