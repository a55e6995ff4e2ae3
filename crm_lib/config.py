"""Run parameters: load, merge (defaults <- profile <- --set), validate; report periods.

Every error names the file (or ``--set``) and the key, before any notebook starts.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm_lib import kpis
from crm_lib.errors import ConfigError
# Re-exported for the runner, the CLI, notebooks and tests: ``Period`` lives in crm_lib.periods and the
# parameter-file helpers in crm_lib.paramfiles, low modules the analyses import without importing config.
from crm_lib.paramfiles import (NOTEBOOKS_DIR, PARAMETERS_DIR, PROJECT_ROOT, default_notebooks_dir,  # noqa: F401
                                default_parameters_dir, read_yaml)
from crm_lib.periods import Period

logger = logging.getLogger(__name__)



# --------------------------------------------------------------------------- names

# Profile names, notebook names and action ids become file names, URLs and page anchors:
# ASCII letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
NAME_RULE = "letters, digits, '_' and '-' only, starting with a letter or digit, at most 64 characters"


def check_name(kind: str, value: Any) -> str:
    """``value`` if it is a valid name (``NAME_PATTERN``), else ConfigError stating the rule."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigError(f"{kind} {value!r}: a name may use {NAME_RULE}")
    return value


# --------------------------------------------------------------------------- parameters

class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: date


class Currency(BaseModel):
    """The currency amounts are in: ISO 4217 ``code`` and the ``symbol`` pages print (``¥40.1bn``)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z]{3}$")
    symbol: str | None = Field(None, max_length=8)


class Params(BaseModel):
    """The resolved parameters of one run (see parameters/defaults.yaml for meanings)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    mapping: str | None = None
    reports_dir: str = "reports"
    kernel: str = "crm-workbench"
    seed: int = 20261
    parallel: int = Field(2, ge=1, le=16)
    notebook_timeout_s: int = Field(1800, gt=0)
    duckdb_memory_limit: str | None = "auto"   # per notebook kernel: auto, a size ("6GB"), or null (DuckDB's default)
    window_days: int = Field(365, gt=0)
    aum_months: int = Field(3, ge=1, le=12)
    tiers: dict[Literal["individual", "corporate"], dict[str, float]]
    horizons_months: list[int]
    min_n: int = Field(30, ge=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    schedule: Schedule
    planned_uplift: dict[str, float] = {}
    history_periods: int = Field(8, ge=2, le=40)
    sla_days: dict[Literal["low", "medium", "high"], float] = {"low": 5, "medium": 15, "high": 30}
    satisfaction_weights: dict[str, float] | None = None
    trend_periods: int | None = Field(None, ge=2, le=120)
    n_boot: int = Field(400, ge=50, le=10_000)
    churn: dict[str, Any] = {}          # checked in depth by crm_lib.churn.settings (ChurnSettings)
    locale: Literal["en", "zh-CN"] = "en"   # the pack's language (crm_lib.i18n: catalogues in crm_lib/locale)
    currency: Currency | None = None    # null: bare amounts (40.1bn), as before the parameter existed
    period_kind: Literal["month", "quarter", "year"]
    notebooks: list[str] = Field(min_length=1)

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit(cls, v):
        from crm_lib.data.store import check_memory_limit

        if v is None or str(v).strip().lower() == "auto":
            return None if v is None else "auto"
        try:
            return check_memory_limit(v)
        except ConfigError as e:        # raised as ValueError, pydantic reports it as this field's error
            raise ValueError(str(e)) from None

    @field_validator("horizons_months")
    @classmethod
    def _positive(cls, v):
        bad = [h for h in v if h <= 0]
        if bad or not v:
            raise ValueError(f"every horizon must be > 0 months, got {v}")
        return v

    @field_validator("sla_days")
    @classmethod
    def _sla_positive(cls, v):
        bad = {k: d for k, d in v.items() if d <= 0}
        if bad:
            raise ValueError(f"SLA days must be > 0, got {bad}")
        return v

    @field_validator("satisfaction_weights")
    @classmethod
    def _weights(cls, v):
        if v is not None:
            if any(w < 0 for w in v.values()) or abs(sum(v.values()) - 1) > 1e-6:
                raise ValueError(f"weights must be >= 0 and sum to 1, got {v}")
            bad = [k for k in v if not k.startswith("attr_")]
            if bad:
                raise ValueError(f"weights are for survey attribute columns attr_*, got {bad}")
        return v

    @field_validator("churn")
    @classmethod
    def _churn(cls, v):
        from crm_lib.churn.settings import ChurnSettings

        try:
            ChurnSettings.from_params({"churn": v}).check()
        except ConfigError as e:
            raise ValueError(str(e)) from None
        except TypeError as e:
            raise ValueError(f"unknown churn setting ({e})") from None
        return v

    @field_validator("tiers")
    @classmethod
    def _increasing(cls, v):
        for ctype, tiers in v.items():
            vals = list(tiers.values())
            if not vals or vals[0] != 0 or any(b <= a for a, b in zip(vals, vals[1:])):
                raise ValueError(f"{ctype}: lower bounds must start at 0 and be strictly increasing, got {tiers}")
        return v

    @field_validator("notebooks")
    @classmethod
    def _exist(cls, v):
        bad = [n for n in v if not NAME_PATTERN.fullmatch(n)]
        if bad:
            raise ValueError(f"notebook name(s) {bad}: a name may use {NAME_RULE}")
        missing = [n for n in v if not (default_notebooks_dir() / f"{n}.ipynb").exists()]
        if missing:
            raise ValueError(f"no such notebook(s) in notebooks/: {missing}")
        return v


@dataclass
class RunConfig:
    profile: str
    params: Params
    sources: dict[str, str]          # top-level key -> where its value came from
    targets: dict
    actions: list
    alerts: list

    def as_dict(self) -> dict:
        return self.params.model_dump(mode="json")


def _merge(base: dict, over: dict, origin: str, sources: dict, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "tiers":
            out[k] = _merge(out[k], v, origin, sources, key + ".")
        else:
            out[k] = copy.deepcopy(v)
        sources[key] = origin
    return out


def parse_overrides(items: list[str] | None) -> dict:
    """``["a=1", "schedule.since=2026-01-01"]`` -> nested dict with YAML-typed values."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def resolve(profile: str, overrides: list[str] | None = None, parameters_dir: Path | None = None) -> RunConfig:
    """Resolve and validate a profile's parameters.

    Raises
    ------
    ConfigError
        Naming the file (or ``--set``) and the key of the first problems found.
    """
    check_name("profile", profile)
    pdir = Path(parameters_dir or default_parameters_dir())
    defaults_path = pdir / "defaults.yaml"
    profile_path = pdir / "profiles" / f"{profile}.yaml"
    if not profile_path.exists():
        known = sorted(p.stem for p in (pdir / "profiles").glob("*.yaml"))
        raise ConfigError(f"profile {profile!r}: no file {profile_path} (profiles: {', '.join(known)})")
    sources: dict[str, str] = {}
    merged = _merge({}, read_yaml(defaults_path), str(defaults_path), sources)
    merged = _merge(merged, read_yaml(profile_path), str(profile_path), sources)
    merged = _merge(merged, parse_overrides(overrides), "--set", sources)
    try:
        params = Params.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_explain(e, sources)) from None
    targets = load_targets(pdir / "targets.yaml")
    actions = load_actions(pdir / "actions.yaml")
    alerts = load_alerts(pdir / "alerts.yaml")
    return RunConfig(profile, params, sources, targets, actions, alerts)


def _explain(e: ValidationError, sources: dict) -> str:
    lines = []
    for err in e.errors():
        loc = [str(x) for x in err["loc"]]
        key = ".".join(loc)
        origin = next((sources[".".join(loc[:i])] for i in range(len(loc), 0, -1) if ".".join(loc[:i]) in sources),
                      "parameters")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against parameters/defaults.yaml)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = repr(err.get("input"))
        show = err["type"] not in ("missing", "extra_forbidden") and len(got) <= 80
        lines.append(f"{origin}: {key}: {msg}" + (f" (got {got})" if show else ""))
    return "invalid parameters:\n  " + "\n  ".join(lines)


def load_targets(path: Path) -> dict:
    """``{kpi: {target, near_band}}``; each KPI known and each target inside its range."""
    data = read_yaml(path) if path.exists() else {}
    unknown_top = set(data) - {"targets"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown_top)} (expected 'targets')")
    out = {}
    for name, spec in (data.get("targets") or {}).items():
        if name not in kpis.REGISTRY:
            raise ConfigError(f"{path}: targets.{name}: unknown KPI (known: {', '.join(sorted(kpis.REGISTRY))})")
        if not isinstance(spec, dict) or "target" not in spec:
            raise ConfigError(f"{path}: targets.{name}: expected {{target: value, near_band: value}}")
        extra = set(spec) - {"target", "near_band"}
        if extra:
            raise ConfigError(f"{path}: targets.{name}: unknown key(s) {sorted(extra)}")
        try:
            t, band = float(spec["target"]), float(spec.get("near_band", 0))
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: targets.{name}.target: expected a number, got {spec['target']!r}") from None
        k = kpis.get(name)
        if not kpis.in_range(name, t):
            raise ConfigError(f"{path}: targets.{name}.target: {t} is outside the KPI's range "
                              f"[{k.low}, {k.high if k.high is not None else 'inf'}] ({k.unit})")
        if band < 0:
            raise ConfigError(f"{path}: targets.{name}.near_band: must be >= 0, got {band}")
        out[name] = {"target": t, "near_band": band}
    return out


def load_actions(path: Path) -> list:
    """The improvement-action register; each action names a known KPI and a start date."""
    data = read_yaml(path) if path.exists() else {}
    out = []
    for i, a in enumerate(data.get("actions") or []):
        where = f"{path}: actions[{i}]"
        need = {"id", "name", "owner", "start_date", "kpi", "expected_effect"}
        if isinstance(a, dict) and a.get("effect_scale", "absolute") not in ("absolute", "relative"):
            raise ConfigError(f"{where}.effect_scale: must be 'absolute' or 'relative', got {a['effect_scale']!r}")
        if not isinstance(a, dict) or need - set(a):
            raise ConfigError(f"{where}: missing key(s) {sorted(need - set(a or {}))}")
        if not isinstance(a["id"], str) or not NAME_PATTERN.fullmatch(a["id"]):
            raise ConfigError(f"{where}.id: {a['id']!r}: an action id may use {NAME_RULE}")
        if a["kpi"] not in kpis.REGISTRY:
            raise ConfigError(f"{where}.kpi: unknown KPI {a['kpi']!r}")
        try:
            a = {**a, "start_date": pd.Timestamp(a["start_date"]).date(), "expected_effect": float(a["expected_effect"])}
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where}: {e}") from None
        out.append(a)
    return out


ALERT_WHEN = ("above", "below", "below_target", "above_target")


def load_alerts(path: Path) -> list:
    """KPI alert rules: ``{kpi, when: above|below|below_target|above_target, value, periods}``."""
    data = read_yaml(path) if path.exists() else {}
    out = []
    for i, r in enumerate(data.get("alerts") or []):
        where = f"{path}: alerts[{i}]"
        if not isinstance(r, dict) or "kpi" not in r or "when" not in r:
            raise ConfigError(f"{where}: each rule needs 'kpi' and 'when'")
        extra = set(r) - {"kpi", "when", "value", "periods"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
        if r["kpi"] not in kpis.REGISTRY:
            raise ConfigError(f"{where}.kpi: unknown KPI {r['kpi']!r}")
        if r["when"] not in ALERT_WHEN:
            raise ConfigError(f"{where}.when: {r['when']!r} is not one of {', '.join(ALERT_WHEN)}")
        if r["when"] in ("above", "below") and not isinstance(r.get("value"), (int, float)):
            raise ConfigError(f"{where}.value: a number is required for when={r['when']}")
        if int(r.get("periods", 1)) < 1:
            raise ConfigError(f"{where}.periods: must be >= 1")
        out.append(r)
    return out


def resolve_period(text: str | None, kind: str, data_end: date) -> Period:
    """Parse ``text`` (default: the data's last closed period) and check it against the data."""
    p = Period.parse(text) if text else Period.last_closed(kind, data_end)
    if p.kind != kind:
        raise ConfigError(f"period {p.label} is a {p.kind}, but this profile reports by {kind} "
                          f"(e.g. {Period.last_closed(kind, data_end).label})")
    if p.end > pd.Timestamp(data_end).date():
        raise ConfigError(f"period {p.label} ends {p.end}, after the data ends ({data_end}): it has not closed yet; "
                          f"the last closed {kind} is {Period.last_closed(kind, data_end).label}")
    return p
