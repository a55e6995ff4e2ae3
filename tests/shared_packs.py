"""Full packs that several test files read, built once per test session (shared across xdist workers).

A full Papermill pack of the tiny bank costs 1-2 minutes on CI's 2 cores, so a pack that can serve more than
one test file is built here once, under a file lock, and its outcome written next to it:

* the *payload pack* (tests/test_payload_pack.py, issue #20): the tiny bank with a script payload in every
  page-reaching string, its quarterly pack built at ``alpha=0.2`` so that tests/test_alpha_labels.py (issue
  #21) reads the same pages for their interval labels. The payloads change labels only (campaign ids,
  categories, a tier's and a product's name), never a number, so the alpha test's comparison with library
  calls at 0.05 and 0.2 is made on the same payload warehouse the pack read. tests/test_pipeline.py checks the
  same pack as any quarterly pack (files, manifest, facts, no PII, Chromium), and tests/test_backfill.py builds
  the same period facts-only beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD_ALPHA = 0.2


def payload(tag: str) -> str:
    return f"X{tag}'<img src=x onerror=\"window.__xss='{tag}'\">[{tag}](javascript:window.__xss=1)"


# (table, column, value replaced, tag): one payload each
DATA = [
    ("campaigns", "campaign_id", "ACT-2026Q3", "camp"),
    ("campaigns", "campaign_id", "RET-2024Q2", "ret"),
    ("surveys", "touchpoint", "call_centre", "touch"),
    ("complaints", "category", "fees_charges", "cat"),
    ("complaints", "channel", "phone", "chan"),
    ("accounts", "product", "fx", "prod"),
    ("customers", "region", "north", "region"),
    ("customers", "acquisition_channel", "referral", "acq"),
]


def shared_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by all workers of this session
    return root


def _payload_bank(tiny_bank: Path, work: Path) -> tuple[Path, Path]:
    db = work / "warehouse.duckdb"
    shutil.copy(tiny_bank / "warehouse.duckdb", db)
    con = duckdb.connect(str(db))
    for table, col, old, tag in DATA:
        if table == "campaigns":
            for t in ("campaigns", "campaign_contacts"):
                con.execute(f"UPDATE {t} SET campaign_id = ? WHERE campaign_id = ?", [payload(tag), old])
        else:
            con.execute(f'UPDATE {table} SET "{col}" = ? WHERE "{col}" = ?', [payload(tag), old])
        assert con.execute(f'SELECT count(*) FROM {table} WHERE "{col}" = ?', [payload(tag)]).fetchall()[0][0] > 0, tag
    branch = con.execute("SELECT branch_id FROM customers GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
    con.execute("UPDATE customers SET branch_id = ? WHERE branch_id = ?", [payload("branch"), branch])
    con.close()
    params = work / "parameters"
    shutil.copytree(ROOT / "parameters", params)
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    ind = defaults["tiers"]["individual"]
    defaults["tiers"]["individual"] = {(payload("tier") if k == "affluent" else k): v for k, v in ind.items()}
    (params / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    # the renamed product is priced like the one it replaces, as a bank would add its own product
    clv_rules = yaml.safe_load((params / "clv.yaml").read_text())
    fees = clv_rules["product_fees_monthly"]
    clv_rules["product_fees_monthly"] = {(payload("prod") if k == "fx" else k): v for k, v in fees.items()}
    (params / "clv.yaml").write_text(yaml.safe_dump(clv_rules, sort_keys=False))
    mk = yaml.safe_load((params / "marketing.yaml").read_text())
    for table in ("products", "eligibility"):
        mk[table] = {(payload("prod") if k == "fx" else k): v for k, v in mk[table].items()}
    (params / "marketing.yaml").write_text(yaml.safe_dump(mk, sort_keys=False))
    actions = yaml.safe_load((params / "actions.yaml").read_text())
    actions["actions"][0]["name"] = payload("action")
    (params / "actions.yaml").write_text(yaml.safe_dump(actions, sort_keys=False))
    # the monthly pack only for the early-warning page (where --set churn.censor_treated_kinds is printed);
    # its other notebooks are in the quarterly pack already
    monthly = yaml.safe_load((params / "profiles" / "monthly.yaml").read_text())
    monthly["notebooks"] = ["21_early_warning"]
    (params / "profiles" / "warnings.yaml").write_text(yaml.safe_dump(monthly, sort_keys=False))
    return db, params


def payload_packs(tmp_path_factory, tiny_bank: Path) -> tuple[Path, dict]:
    """(reports dir, {profile: {returncode, stdout, stderr}}) of the payload bank's quarterly pack (at alpha
    0.2) and its early-warning-only pack; built by the first worker that asks, read by the others."""
    work = shared_root(tmp_path_factory) / "payload_packs"
    outcome = work / "outcome.json"
    with FileLock(str(work) + ".lock"):
        if not outcome.exists():
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            db, params = _payload_bank(tiny_bank, work)
            reports = work / "reports"
            env = {**os.environ, "CRM_PARAMETERS_DIR": str(params)}
            runs = {}
            for profile, extra in (("quarterly", ["--set", f"alpha={PAYLOAD_ALPHA}"]),
                                   ("warnings", ["--set", "churn.censor_treated_kinds=[retention, "
                                                 f"{json.dumps(payload('kind'))}]"])):
                r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "run", profile, "--source", str(db),
                                    "--set", f"reports_dir={reports}", *extra],
                                   capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
                runs[profile] = {"returncode": r.returncode, "stdout": r.stdout[-3000:], "stderr": r.stderr[-3000:]}
            outcome.write_text(json.dumps(runs))
    return work / "reports", json.loads(outcome.read_text())
