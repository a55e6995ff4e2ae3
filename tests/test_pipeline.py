"""End-to-end: real Papermill runs of real notebooks on the tiny bank, through the CLI."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import nbformat
import pandas as pd
import pytest
import yaml
from filelock import FileLock

from conftest import ROOT, chromium, load

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "crm_lib.cli"]




def _cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def _notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('source = ""\nperiod = ""\nprofile = "quarterly"\nparams = {}\nfacts_path = ""\ndoor_path = ""')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "crm-workbench", "display_name": "CRM", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def pack(shared_payload_packs):
    """The tiny bank's quarterly pack built by the CLI, once per test session (tests/shared_packs.py: the same
    customers with a script payload in their labels, at alpha 0.2; test_payload_pack and test_alpha_labels
    read it too), and the run's outcome."""
    reports, runs = shared_payload_packs
    q = runs["quarterly"]
    return reports, SimpleNamespace(returncode=q["returncode"], stdout=q["stdout"], stderr=q["stderr"])


def test_run_builds_a_complete_pack(pack):
    reports, r = pack
    assert r.returncode == 0, r.stderr
    d = reports / "quarterly" / "2026Q3"
    for f in ("00_data_overview.ipynb", "00_data_overview.html", "facts.json", "manifest.json", "run.log",
              "door.json", "parameters.yaml"):
        assert (d / f).exists(), f
    assert "2026Q3: ok" in r.stdout and str(d) in r.stdout
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "ok" and m["period"] == "2026Q3" and m["data"]["fingerprint"]
    assert m["notebooks"][0]["status"] == "ok" and m["notebooks"][0]["execute_seconds"] > 0
    # each notebook's largest process (its kernel) by its /proc high-water mark: a kernel with pandas and
    # DuckDB loaded holds well over 100 MB; the tiny bank's frames keep it far below 4 GB
    peaks = {x["name"]: x["peak_memory_mb"] for x in m["notebooks"]}
    assert all(100 < v < 4000 for v in peaks.values()), peaks
    assert "peak memory" in (d / "run.log").read_text()
    from crm_lib.data.store import resolve_memory_limit

    # each kernel's DuckDB limit: half the machine's memory shared among the kernels that run at once
    assert m["duckdb_memory_limit_per_kernel"] == resolve_memory_limit("auto", m["parameters"]["parallel"])
    assert m["parameters"]["duckdb_memory_limit"] == "auto" and m["host_memory_mb"] > 1000
    assert m["parameters"]["window_days"] == 365 and m["seed"] == 20261 and m["kernel"] == "crm-workbench"
    assert m["code_version"].startswith("0.1.0")
    assert not [p for p in (reports / "quarterly").iterdir() if p.name.startswith(".build")]
    assert (reports / "index.html").exists()


def test_facts_carry_value_unit_uncertainty_n_and_definition(pack, tiny_bank):
    reports, _ = pack
    facts = {f["name"]: f for f in json.loads((reports / "quarterly" / "2026Q3" / "facts.json").read_text())}
    for f in facts.values():
        assert f["unit"] and f["definition"] and f["notebook"] and f["period"] == "2026Q3"
        assert f["ci_lower"] is not None or f["p_value"] is not None or f["uncertainty"]
    churn = facts["churn_rate_period"]
    assert churn["ci_lower"] <= churn["value"] <= churn["ci_upper"] and churn["n"] > 1000
    # the pack's count agrees with the warehouse, computed independently here
    cust = pd.read_parquet(tiny_bank / "parquet" / "customers")
    end = pd.Timestamp("2026-09-30")
    active = ((cust["onboard_date"] <= end) & (cust["closed_date"].isna() | (cust["closed_date"] > end))).sum()
    assert facts["active_customers"]["value"] == active


def test_html_hides_code_and_shows_results(pack):
    reports, _ = pack
    page = (reports / "quarterly" / "2026Q3" / "00_data_overview.html").read_text()
    assert "open_context(" not in page and "import " not in page
    assert "Data overview: 2026Q3" in page and "data:image/png;base64" in page
    assert "Traceback" not in page


def _leaks(text: str, names: set, codes: set) -> set:
    """Planted PII or raw IDs found in ``text``: codes (IDs, phones, e-mails, national IDs) by
    their formats, names as word n-grams (a set lookup, not a 10,000-way regex)."""
    found = set(re.findall(r"(?:CUS|CMP)\d{8}|(?:ACC|SRV)\d{9}|\+44 7\d{3} \d{6}|[A-Z]{2}\d{6}[A-D]|[\w.'\-]+@example\.(?:com|org|net)", text)) & codes
    words = re.findall(r"[A-Za-z'\-]+|&", text)
    grams = {" ".join(words[i:i + k]) for k in (2, 3, 4, 5) for i in range(len(words) - k + 1)}
    return found | (grams & names)


def test_no_pii_or_raw_id_reaches_any_output(pack, tiny_bank):
    reports, _ = pack
    cust = pd.read_parquet(tiny_bank / "parquet" / "customers")
    names = {" ".join(n.split()) for n in cust["full_name"]}
    codes = set(cust["customer_id"]) | set(cust["phone"]) | set(cust["email"]) | set(cust["national_id"])
    # record ids that map 1:1 to a customer (complaint, account, survey response) never stand in a pack (#20)
    for table, col in (("complaints", "complaint_id"), ("accounts", "account_id"), ("surveys", "response_id")):
        codes |= set(pd.read_parquet(tiny_bank / "parquet" / table, columns=[col])[col])
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert len(files) >= 8
    images = re.compile(r'data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+|"image/png": "[^"]*"')
    for p in files:
        # embedded PNGs are base64 (no readable text) and most of the bytes: drop them before the scan
        text = html.unescape(images.sub("", p.read_bytes().decode("utf-8", errors="replace")))  # O&#39;Neil
        hit = _leaks(text, names, codes)
        assert not hit, f"{p.name} leaks {sorted(hit)[:3]}"
    # the scan itself bites: every kind of planted value is found when present
    r = cust.iloc[5]
    probe = f"x {r['customer_id']} y {r['phone']}, {r['email']} ({r['national_id']}) and {r['full_name']}."
    assert _leaks(probe, names, codes) == {r["customer_id"], r["phone"], r["email"], r["national_id"],
                                           " ".join(r["full_name"].split())}
    some = pd.read_parquet(tiny_bank / "parquet" / "complaints", columns=["complaint_id"])["complaint_id"].iloc[0]
    assert _leaks(f"<td>{some}</td><td>P0a1b</td>", names, codes) == {some}
    company = cust.loc[cust["customer_type"] == "corporate", "full_name"].iloc[0]
    assert _leaks(f"<td>{company}</td>", names, codes) == {" ".join(company.split())}


def test_existing_pack_is_not_overwritten_without_force_and_kept_aside_with_it(tiny_bank, tmp_path, trivial):
    """The runner's rules for an existing pack (a one-cell notebook: the rules, not the analysis, are tested)."""
    lean = trivial
    reports = tmp_path / "reports"
    args = ["run", "overview", "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}"]
    assert _cli(*args, env=lean).returncode == 0
    d = reports / "overview" / "2026Q3"
    before = (d / "manifest.json").read_bytes()
    r = _cli(*args, env=lean)
    assert r.returncode == 2 and "already exists; use --force" in r.stderr
    assert (d / "manifest.json").read_bytes() == before
    r = _cli(*args, "--force", env=lean)
    assert r.returncode == 0, r.stderr
    kept = list((reports / "overview" / ".archive").glob("2026Q3-*"))
    assert len(kept) == 1 and (kept[0] / "manifest.json").read_bytes() == before
    assert (d / "manifest.json").read_bytes() != before
    r = _cli("list", "--set", f"reports_dir={reports}", env=lean)
    assert r.returncode == 0 and re.search(r"overview\s+2026Q3\s+ok", r.stdout)
    r = _cli(*args, "--if-missing", env=lean)
    assert r.returncode == 0 and "already built" in r.stdout


def test_bad_parameters_and_bad_data_stop_before_any_notebook(tiny_bank, tmp_path):
    reports = tmp_path / "reports"
    r = _cli("run", "quarterly", "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}",
             "--set", "horizons_months=[0]")
    assert r.returncode == 2 and "horizons_months" in r.stderr and "Traceback" not in r.stderr
    r = _cli("run", "quarterly", "--period", "2027Q1", "--source", str(tiny_bank / "warehouse.duckdb"),
             "--set", f"reports_dir={reports}")
    assert r.returncode == 2 and "has not closed yet" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in (tiny_bank / "parquet").iterdir():
        df = pd.read_parquet(p)
        if p.name == "surveys":
            df.loc[0, "csat"] = 9
        df.to_parquet(bad / f"{p.name}.parquet", index=False)
    r = _cli("run", "quarterly", "--source", str(bad), "--set", f"reports_dir={reports}")
    assert r.returncode == 3 and "surveys.csat" in r.stderr and "integer 1-5" in r.stderr
    assert not reports.exists() or not any(reports.rglob("*.ipynb"))


@pytest.fixture
def lean(tmp_path):
    """Parameters with a one-notebook profile ('overview'), for tests that build many packs."""
    pdir = tmp_path / "lean_parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "profiles" / "overview.yaml").write_text("period_kind: quarter\nnotebooks: [00_data_overview]\n")
    return {"CRM_PARAMETERS_DIR": str(pdir)}


@pytest.fixture
def trivial(tmp_path):
    """Parameters and notebooks with a one-notebook profile ('overview') whose notebook prints one line."""
    nbd = tmp_path / "trivial_notebooks"
    nbd.mkdir()
    _notebook(nbd / "01_hello.ipynb", 'print("hello from", period)')
    pdir = tmp_path / "trivial_parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    for profile in (pdir / "profiles").glob("*.yaml"):      # every profile runs the one notebook there is
        spec = yaml.safe_load(profile.read_text())
        profile.write_text(yaml.safe_dump({**spec, "notebooks": ["01_hello"]}, sort_keys=False))
    (pdir / "profiles" / "overview.yaml").write_text("period_kind: quarter\nnotebooks: [01_hello]\n")
    return {"CRM_NOTEBOOKS_DIR": str(nbd), "CRM_PARAMETERS_DIR": str(pdir)}


@pytest.fixture
def custom_notebooks(tmp_path):
    """A notebooks folder with the real overview, a broken and a slow notebook, and matching profiles."""
    nbd = tmp_path / "notebooks"
    nbd.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_data_overview.ipynb", nbd)
    _notebook(nbd / "98_broken.ipynb", 'raise RuntimeError("planted failure for the test")')
    _notebook(nbd / "99_slow.ipynb", "import time\ntime.sleep(120)")
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "profiles" / "broken.yaml").write_text("period_kind: quarter\nnotebooks: [00_data_overview, 98_broken]\n")
    (pdir / "profiles" / "slow.yaml").write_text("period_kind: quarter\nnotebooks: [99_slow]\n")
    (pdir / "profiles" / "fast.yaml").write_text("period_kind: quarter\nnotebooks: [98_broken]\n")
    return {"CRM_NOTEBOOKS_DIR": str(nbd), "CRM_PARAMETERS_DIR": str(pdir)}


def test_a_failed_notebook_keeps_its_error_and_the_others_still_run(tiny_bank, tmp_path, custom_notebooks):
    reports = tmp_path / "reports"
    r = _cli("run", "broken", "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}",
             env=custom_notebooks)
    assert r.returncode == 4, r.stderr
    d = reports / "broken" / "2026Q3"
    m = json.loads((d / "manifest.json").read_text())
    status = {n["name"]: n["status"] for n in m["notebooks"]}
    assert status == {"00_data_overview": "ok", "98_broken": "failed"} and m["status"] == "failed"
    assert "planted failure for the test" in (d / "98_broken.html").read_text()
    assert "This notebook failed" in (d / "98_broken.html").read_text()
    assert "RuntimeError" in [n for n in m["notebooks"] if n["name"] == "98_broken"][0]["error"]
    index = (reports / "index.html").read_text()
    assert re.search(r"""<span class=["']failed["']>failed</span>""", index)


def test_sigkill_mid_notebook_leaves_the_previous_pack_and_no_partial_folder(tiny_bank, tmp_path, custom_notebooks):
    from crm_lib.reporting.runner import _clean_stale

    reports = tmp_path / "reports"
    prev = reports / "slow" / "2026Q3"
    prev.mkdir(parents=True)
    (prev / "manifest.json").write_text('{"status": "ok", "notebooks": []}')
    (prev / "00_data_overview.html").write_text("<html>the previous pack</html>")
    before = {p.name: p.read_bytes() for p in prev.iterdir()}
    proc = subprocess.Popen([*CLI, "run", "slow", "--force", "--source", str(tiny_bank / "warehouse.duckdb"),
                             "--set", f"reports_dir={reports}"],
                            cwd=ROOT, env={**os.environ, **custom_notebooks}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((reports / "slow").glob(".build-*/.99_slow.params.yaml")):
        time.sleep(0.2)
    assert list((reports / "slow").glob(".build-*")), "the run never started building"
    time.sleep(6)  # papermill has started the kernel, which sits in time.sleep(120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in prev.iterdir()} == before
    assert [p.name for p in (reports / "slow").iterdir() if not p.name.startswith(".")] == ["2026Q3"]
    assert not (reports / "slow" / ".archive").exists()
    # the dead run's lock is free again (an OS lock dies with its holder) ...
    with FileLock(str(reports / "slow" / ".2026Q3.lock"), timeout=0):
        pass
    # ... and its build folder is recognised as stale and removed by the next run
    _clean_stale(reports / "slow")
    assert not list((reports / "slow").glob(".build-*"))


def test_a_second_run_of_the_same_pack_is_refused_while_the_first_holds_the_lock(tiny_bank, tmp_path, custom_notebooks):
    reports = tmp_path / "reports"
    (reports / "fast").mkdir(parents=True)
    with FileLock(str(reports / "fast" / ".2026Q3.lock"), timeout=0):
        (reports / "fast" / ".2026Q3.lock.json").write_text('{"pid": 4242, "started": "now"}')
        r = _cli("run", "fast", "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}",
                 env=custom_notebooks)
    assert r.returncode == 5 and "is being built" in r.stderr and "4242" in r.stderr
    assert not (reports / "fast" / "2026Q3").exists()


def _check_page(page, url: str, shots: Path, name: str) -> None:
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    load(page, url)
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src.slice(0, 60), e.complete && e.naturalWidth > 0])")
    assert imgs, f"{name}: no images"
    assert all(ok for _, ok in imgs), f"{name}: broken images {[s for s, ok in imgs if not ok]}"
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
        u = urlparse(href)
        if u.scheme == "file":
            assert Path(unquote(u.path)).exists(), f"{name}: dead link {href}"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert not errors, f"{name}: script errors {errors}"


def test_index_and_reports_render_in_chromium(pack, tmp_path):
    """A real headless browser (Debian chromium via Playwright) opens the index and the reports."""
    reports, _ = pack
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        _check_page(page, (reports / "index.html").as_uri(), tmp_path, "index")
        assert page.locator("text=2026Q3").count() >= 1
        page.click("text=00_data_overview >> nth=0")
        page.wait_for_load_state("load")
        assert "Data overview: 2026Q3" in page.content()
        _check_page(browser.new_page(), (reports / "quarterly" / "2026Q3" / "00_data_overview.html").as_uri(),
                    tmp_path, "overview")
        review = browser.new_page()
        _check_page(review, (reports / "quarterly" / "2026Q3" / "90_effectiveness_review.html").as_uri(),
                    tmp_path, "review")
        assert "Executive summary, 2026Q3" in review.content()
    assert (tmp_path / "index.png").stat().st_size > 10_000


def test_a_kernel_that_dies_at_start_up_is_started_again(tiny_bank, tmp_path, lean):
    # A real kernelspec whose first launch exits before the handshake (what a lost race for
    # ZMQ ports looks like to papermill); the runner must start it again, say so, and succeed.
    marker = tmp_path / "first-launch-done"
    script = tmp_path / "flaky_kernel.py"
    script.write_text(
        "import os, sys\n"
        f"marker = {str(marker)!r}\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    sys.exit(1)\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n")
    spec = tmp_path / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, str(script), "{connection_file}"],
                                                  "display_name": "flaky", "language": "python"}))
    reports = tmp_path / "reports"
    r = _cli("run", "overview", "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}",
             "--set", "kernel=flaky", env={**lean, "JUPYTER_PATH": str(tmp_path / "jupyter")})
    assert r.returncode == 0, r.stderr
    assert marker.exists()
    d = reports / "overview" / "2026Q3"
    assert "the kernel did not start" in (d / "run.log").read_text()
    assert json.loads((d / "manifest.json").read_text())["status"] == "ok"
