"""A pack's recorded facts on disk (``facts.json``, one JSON list of fact records).

A low module: the effectiveness review (``crm_lib.evaluation``) reads earlier packs' facts
through it without importing the reporting layer that writes them (``crm_lib.reporting.facts``).
"""

from __future__ import annotations

import json
from pathlib import Path


def load_facts(path: str | Path) -> list[dict]:
    """Facts from a pack's ``facts.json`` (empty list when missing)."""
    path = Path(path)
    if not path.exists():
        return []
    return json.loads(path.read_text())
