"""Faults of the machine, for real (issue #18): read-only and full file systems, killed and starved kernels.

No mocks: the reports folder is a real read-only tmpfs, an immutable folder or a small tmpfs;
a kernel kills itself with SIGKILL mid-cell or runs under a real address-space limit. Each
test checks the one-line message, the exit code, that no build folder and no process of the
run remain, and that a previous pack in the same folder is byte-identical afterwards. The
tests run as root (CI), so a folder "the user cannot write" needs a mount or ``chattr +i``:
mode bits do not stop root.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

import crm_lib.config  # noqa: F401 - imported before any test sets CRM_PARAMETERS_DIR (read once, at import)
from conftest import ROOT

CLI = [sys.executable, "-m", "crm_lib.cli"]
MARK = "CRM_FAULT_TEST_MARK"


def _nb(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('source = ""\nperiod = ""\nprofile = ""\nparams = {}\nfacts_path = ""\ndoor_path = ""')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "crm-workbench", "display_name": "CRM", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def lab(tmp_path, tiny_bank, monkeypatch, capsys):
    """Tiny notebooks and profiles for faults, a low-memory kernelspec, and a CLI runner.

    ``lab(profile, reports, *args)`` runs ``crm-workbench run`` in a child process;
    ``lab.main(...)`` runs it in this process (for the checks that stop before any notebook:
    the same code path, without a second interpreter's start-up).
    """
    nbd = tmp_path / "notebooks"
    nbd.mkdir()
    _nb(nbd / "01_ok.ipynb", "x = 1")
    # fills the file system of the build folder, then leaves it full (papermill must still save)
    _nb(nbd / "50_fill.ipynb",
        "f = open(facts_path + '.fill', 'wb')\ntry:\n    while True:\n        f.write(b'0' * 65536)\n        f.flush()\n"
        "except OSError:\n    pass")
    # cell 3 starts a child that would outlive the kernel; cell 4 kills the kernel (cell 5 of 6 in the
    # executed notebook, after papermill's injected-parameters cell)
    _nb(nbd / "60_killed.ipynb", "x = 1", "import subprocess\nchild = subprocess.Popen(['sleep', '300'])",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "y = 2")
    _nb(nbd / "61_memory.ipynb", "big = bytearray(3 * 1024 ** 3)")
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    for name, nbs in {"ok": "[01_ok]", "fill": "[50_fill]", "killed": "[01_ok, 60_killed]",
                      "memory": "[01_ok, 61_memory]"}.items():
        (pdir / "profiles" / f"{name}.yaml").write_text(f"period_kind: quarter\nnotebooks: {nbs}\n")
    # a kernel started under a 1 GB address-space limit (ipykernel with numpy and pandas needs ~0.5 GB)
    spec = tmp_path / "jupyter" / "kernels" / "lowmem"
    spec.mkdir(parents=True)
    (spec / "lowmem.py").write_text(
        "import os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3))\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n")
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, str(spec / "lowmem.py"), "{connection_file}"],
                                                  "display_name": "lowmem", "language": "python"}))
    mark = uuid.uuid4().hex
    env = {**os.environ, "CRM_NOTEBOOKS_DIR": str(nbd), "CRM_PARAMETERS_DIR": str(pdir),
           "JUPYTER_PATH": str(tmp_path / "jupyter"), MARK: mark}

    def run(profile: str, reports: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "run", profile, "--source", str(tiny_bank / "warehouse.duckdb"),
                               "--set", f"reports_dir={reports}", *args],
                              capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)

    def main(profile: str, reports: Path, *args: str) -> subprocess.CompletedProcess:
        from crm_lib.cli import main as cli_main

        for k in ("CRM_NOTEBOOKS_DIR", "CRM_PARAMETERS_DIR", "JUPYTER_PATH", MARK):
            monkeypatch.setenv(k, env[k])
        argv = ["run", profile, "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}",
                *args]
        pkg = logging.getLogger("crm_lib")
        saved = pkg.handlers[:], pkg.level
        capsys.readouterr()
        try:
            code = cli_main(argv)
        finally:
            pkg.handlers[:], _ = saved
            pkg.setLevel(saved[1])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    run.mark = mark
    run.main = main
    return run


def _processes_marked(mark: str) -> list[int]:
    """Processes started by a test run (they inherit its environment), still alive."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if f"{MARK}={mark}".encode() in (d / "environ").read_bytes().split(b"\0"):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _previous_pack(reports: Path, profile: str, period: str = "2026Q3") -> dict:
    """A published pack and an index, as an earlier run left them; returns their bytes."""
    prev = reports / profile / period
    prev.mkdir(parents=True)
    (prev / "manifest.json").write_text(json.dumps({"status": "ok", "notebooks": []}))
    (prev / "01_ok.html").write_text("<html>the previous pack</html>")
    (reports / "index.html").write_text("<html>the previous index</html>")
    return _snapshot(reports)


def _snapshot(reports: Path) -> dict:
    """Bytes of every file under ``reports`` except lock files (a run may create its lock)."""
    return {str(p.relative_to(reports)): p.read_bytes() for p in sorted(reports.rglob("*"))
            if p.is_file() and ".lock" not in p.name}


def _assert_clean(reports: Path, profile: str, before: dict, mark: str) -> None:
    assert _snapshot(reports) == before
    assert not list(reports.rglob(".build-*")), "a build folder was left behind"
    assert not list(reports.rglob("*.lock.json"))
    assert not (reports / profile / ".archive").exists(), "the previous pack was moved"
    assert _processes_marked(mark) == []
    lock = reports / profile / ".2026Q3.lock"
    if lock.exists():  # released: another run could take it at once
        with FileLock(str(lock), timeout=0):
            pass


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and " WARNING " not in ln and " INFO " not in ln]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs (``tmpfs(size, ro=False)``) under tmp_path; unmounted afterwards."""
    mounted = []

    def mount(size: str, name: str = "mnt") -> Path:
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): needs root and CAP_SYS_ADMIN")
        mounted.append(d)
        return d

    yield mount
    for d in reversed(mounted):
        subprocess.run(["umount", "-l", str(d)], check=False)


def _remount_ro(d: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)


def test_read_only_reports_folder_is_one_line_exit_6_before_any_notebook(lab, tmpfs):
    mnt = tmpfs("4m")
    reports = mnt / "reports"
    before = _previous_pack(reports, "ok")
    _remount_ro(mnt)
    r = lab.main("ok", reports, "--force")
    assert r.returncode == 6, r.stderr
    line = _one_line(r.stderr)
    assert f"reports folder {reports / 'ok'} is not writable" in line
    assert "read-only file system" in line and "set reports_dir to a writable folder" in line
    assert "00:" not in r.stdout and "01_ok" not in r.stdout  # no notebook ran
    _assert_clean(reports, "ok", before, lab.mark)


def test_an_immutable_reports_folder_names_the_missing_permission(lab, tmp_path):
    reports = tmp_path / "reports"
    before = _previous_pack(reports, "ok")
    target = reports / "ok"
    r = subprocess.run(["chattr", "+i", str(target)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i is not supported on this file system ({r.stderr.strip()})")
    try:
        r = lab.main("ok", reports, "--force")
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert r.returncode == 6, r.stderr
    line = _one_line(r.stderr)
    assert f"no permission to write {target}" in line and "Operation not permitted" in line
    assert "chattr -i" in line
    _assert_clean(reports, "ok", before, lab.mark)


def test_a_small_file_system_is_refused_with_space_needed_and_available(lab, tmpfs):
    reports = tmpfs("1m") / "reports"
    before = _previous_pack(reports, "ok")
    r = lab.main("ok", reports, "--force")
    assert r.returncode == 6, r.stderr
    line = _one_line(r.stderr)
    # 1 MB tmpfs, minus the few KB the previous pack holds; the previous pack is tiny, so the
    # floor MIN_PACK_BYTES (25 MB) applies
    assert re.search(r"(1\.0|0\.9) MB free, a pack needs about 25\.0 MB", line), line
    assert f"reports folder {reports / 'ok'}" in line
    _assert_clean(reports, "ok", before, lab.mark)


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_leaves_the_previous_pack_and_no_build(lab, tmpfs):
    reports = tmpfs("32m") / "reports"  # passes the 25 MB check; the notebook then fills it
    before = _previous_pack(reports, "fill")
    r = lab("fill", reports, "--force")
    assert r.returncode == 6, r.stderr + r.stdout
    line = _one_line(r.stderr)
    assert line.startswith("error: pack fill/2026Q3 not built: no space left on the device of")
    assert "free space there or set reports_dir" in line
    assert "nothing was published: the previous pack and the index are unchanged" in line
    _assert_clean(reports, "fill", before, lab.mark)
    assert shutil.disk_usage(reports).used < 1024 ** 2  # the filler went with the build folder


@pytest.mark.slow
def test_a_kernel_killed_mid_cell_fails_its_notebook_names_the_cell_and_leaves_no_process(lab, tmp_path):
    reports = tmp_path / "reports"
    before = _previous_pack(reports, "killed", period="2026Q2")
    del before["index.html"]  # the index is rebuilt: a pack was published
    r = lab("killed", reports)
    assert r.returncode == 4, r.stderr
    d = reports / "killed" / "2026Q3"
    m = json.loads((d / "manifest.json").read_text())
    status = {n["name"]: (n["status"], n["error"]) for n in m["notebooks"]}
    assert status["01_ok"] == ("ok", "")
    reason = "the kernel died during cell 5 of 6 (`import os, signal`)"
    assert status["60_killed"][0] == "failed" and status["60_killed"][1].startswith(reason)
    assert "the machine may be out of memory" in status["60_killed"][1]
    page = (d / "60_killed.html").read_text()
    assert reason.replace("`", "") in page.replace("`", "") and "This notebook failed" in page
    assert "60_killed" in r.stdout and "the kernel died during cell 5" in r.stdout
    # the `sleep 300` the kernel started outlived it; the runner killed it
    assert _processes_marked(lab.mark) == []
    after = _snapshot(reports)
    assert {k: after[k] for k in before} == before  # the previous period's pack is byte-identical
    assert not list(reports.rglob(".build-*"))


@pytest.mark.slow
def test_a_kernel_under_a_low_address_space_limit_fails_its_notebook_only(lab, tmp_path):
    reports = tmp_path / "reports"
    before = _previous_pack(reports, "memory", period="2026Q2")
    del before["index.html"]
    r = lab("memory", reports, "--set", "kernel=lowmem")
    assert r.returncode == 4, r.stderr
    m = json.loads((reports / "memory" / "2026Q3" / "manifest.json").read_text())
    status = {n["name"]: (n["status"], n["error"]) for n in m["notebooks"]}
    assert status["01_ok"] == ("ok", "")  # the same limited kernel runs a small notebook
    assert status["61_memory"][0] == "failed"
    assert "MemoryError" in status["61_memory"][1] and "memory limit) may be too small" in status["61_memory"][1]
    assert "MemoryError" in (reports / "memory" / "2026Q3" / "61_memory.html").read_text()
    assert _processes_marked(lab.mark) == []
    after = _snapshot(reports)
    assert {k: after[k] for k in before} == before


def _doctor(tiny_bank, capsys, *args: str) -> tuple[int, list[str]]:
    from crm_lib.cli import main

    pkg = logging.getLogger("crm_lib")
    handlers, level = pkg.handlers[:], pkg.level
    capsys.readouterr()
    try:
        code = main(["doctor", *args, "--set", f"source={tiny_bank / 'warehouse.duckdb'}"])
    finally:
        pkg.handlers[:] = handlers
        pkg.setLevel(level)
    return code, capsys.readouterr().out.splitlines()


def test_doctor_prints_one_line_per_check_and_passes_on_a_sound_machine(tiny_bank, tmp_path, capsys):
    code, lines = _doctor(tiny_bank, capsys, "quarterly", "monthly", "--set", f"reports_dir={tmp_path / 'reports'}")
    checks = [ln.split()[1] for ln in lines[:-1]]
    assert code == 0, lines
    assert checks == ["parameters", "kernel", "source", "reports", "parameters", "reports", "key", "fonts", "chromium"]
    assert all(ln.split()[0] in ("ok", "warn") for ln in lines[:-1])
    assert "data to 2026-09-30" in lines[2] and f"{tmp_path / 'reports' / 'quarterly'} writable" in lines[3]
    assert lines[-1] == "doctor: 9 check(s), 0 failed"
    assert not (tmp_path / "reports").exists()  # checking writes nothing


def test_doctor_fails_on_an_unwritable_folder_a_missing_kernel_and_a_bad_profile(tiny_bank, tmpfs, capsys):
    mnt = tmpfs("1m")
    _remount_ro(mnt)
    code, lines = _doctor(tiny_bank, capsys, "quarterly", "no'pe", "--set", f"reports_dir={mnt / 'reports'}",
                          "--set", "kernel=no-such-kernel")
    assert code == 6
    by = {ln.split()[1]: ln for ln in lines[:-1]}
    assert by["reports"].startswith("FAIL") and "read-only file system" in by["reports"]
    assert by["kernel"].startswith("FAIL") and "'no-such-kernel' is not registered" in by["kernel"]
    assert "ipykernel install" in by["kernel"]
    assert by["source"].startswith("ok")
    assert [ln for ln in lines if ln.startswith("FAIL  parameters no'pe: profile")]
    assert lines[-1].endswith("3 failed")


def test_the_space_asked_for_follows_the_profiles_last_pack(tmpfs):
    from crm_lib.errors import EnvironmentFault
    from crm_lib.reporting.runner import MIN_PACK_BYTES, check_reports_folder, expected_pack_bytes

    root = tmpfs("48m")
    profile_dir = root / "quarterly"
    assert expected_pack_bytes(profile_dir) == MIN_PACK_BYTES  # no pack yet: the documented floor
    check_reports_folder(root, profile_dir)  # 48 MB free >= 25 MB
    old, new = profile_dir / "2026Q1", profile_dir / "2026Q2"
    old.mkdir(parents=True)
    new.mkdir()
    with open(old / "big.html", "wb") as f:  # an older, larger pack does not count
        f.truncate(100 * 1024 ** 2)          # sparse: its size without using the tmpfs
    with open(new / "00.html", "wb") as f:
        f.truncate(40 * 1024 ** 2)
    os.utime(old, (1, 1))
    assert expected_pack_bytes(profile_dir) == 60 * 1024 ** 2  # 1.5 x the last pack (PACK_HEADROOM)
    with pytest.raises(EnvironmentFault, match=r"quarterly: 48\.0 MB free, a pack needs about 60\.0 MB; free space"):
        check_reports_folder(root, profile_dir)


def test_any_command_meeting_a_read_only_folder_ends_with_one_line_and_exit_6(tmpfs, capsys):
    # the CLI's last resort: an OSError of the machine outside run (here demo-data) is one line, exit 6
    from crm_lib.cli import main

    mnt = tmpfs("1m")
    _remount_ro(mnt)
    pkg = logging.getLogger("crm_lib")
    handlers, level = pkg.handlers[:], pkg.level
    try:
        code = main(["demo-data", "--size", "tiny", "--out", str(mnt / "bank")])
    finally:
        pkg.handlers[:] = handlers
        pkg.setLevel(level)
    err = capsys.readouterr().err
    assert code == 6 and "Traceback" not in err
    line = _one_line(err)
    assert line.startswith("error: crm-workbench demo-data:") and "read-only file system" in line
    assert os.listdir(mnt) == []
