"""Where the parameter files are and how one is read.

A low module: the analyses' settings loaders (``segmentation.settings``, ``marketing.settings``,
``clv.margin``) read their own YAML files through it without importing ``crm_lib.config``, which
sits above them (it validates the run's parameters, churn settings included).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from crm_lib.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A team can keep its own parameters and notebooks elsewhere (and tests use this).
PARAMETERS_DIR = Path(os.environ.get("CRM_PARAMETERS_DIR") or PROJECT_ROOT / "parameters")
NOTEBOOKS_DIR = Path(os.environ.get("CRM_NOTEBOOKS_DIR") or PROJECT_ROOT / "notebooks")


def default_notebooks_dir() -> Path:
    return Path(os.environ.get("CRM_NOTEBOOKS_DIR") or NOTEBOOKS_DIR)


def default_parameters_dir() -> Path:
    return Path(os.environ.get("CRM_PARAMETERS_DIR") or PARAMETERS_DIR)


def read_yaml(path: Path) -> dict:
    """A YAML file's top-level mapping; ConfigError naming the file when missing, malformed or not a mapping."""
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def default_tier_thresholds(parameters_dir: Path | None = None) -> dict:
    """The value tiers' AUM lower bounds of ``defaults.yaml`` (``tiers``) in the run's parameters folder:
    what a library function uses when its caller gives no thresholds (a bank sets its own tiers there,
    never in code). ``{customer_type: {tier: lower bound}}``, floats.

    Raises
    ------
    ConfigError
        The file is missing or has no ``tiers`` mapping.
    """
    path = Path(parameters_dir or default_parameters_dir()) / "defaults.yaml"
    tiers = read_yaml(path).get("tiers")
    if not isinstance(tiers, dict) or not tiers:
        raise ConfigError(f"{path}: 'tiers' (AUM lower bound per customer type and tier) is missing")
    return {str(ct): {str(k): float(v) for k, v in t.items()} for ct, t in tiers.items()}
