"""Names are names, and every write stays inside reports_dir (issue #20, filesystem rows).

A profile, notebook, period or action id that is not a plain name is refused when parameters
load (exit 2, with the rule); a symlink planted inside reports_dir (a lock, the lock's info
file, the pack folder, a temporary file, ``index_files/``) is refused, never followed, and
its target outside reports_dir is left byte-identical.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

from conftest import ROOT
from crm_lib import config
from crm_lib.errors import ConfigError, EnvironmentFault
from crm_lib.reporting import fsafe


@pytest.fixture
def run(tmp_path, tiny_bank, monkeypatch, capsys):
    """``crm-workbench run`` in this process with a private parameters folder; (exit code, stderr)."""
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "profiles" / "overview.yaml").write_text("period_kind: quarter\nnotebooks: [00_data_overview]\n")
    monkeypatch.setenv("CRM_PARAMETERS_DIR", str(pdir))

    def go(profile: str, reports: Path, *args: str) -> tuple[int, str]:
        from crm_lib.cli import main

        pkg = logging.getLogger("crm_lib")
        handlers, level = pkg.handlers[:], pkg.level
        capsys.readouterr()
        try:
            code = main(["run", profile, "--source", str(tiny_bank / "warehouse.duckdb"),
                         "--set", f"reports_dir={reports}", *args])
        finally:
            pkg.handlers[:] = handlers
            pkg.setLevel(level)
        return code, capsys.readouterr().err

    go.pdir = pdir
    return go


def _files(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()} if d.exists() else {}


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("name", ["m2<img onerror=alert(1)>", "o'brien", "../../../../tmp/x", "a b", ".hidden",
                                  "-rf", "x" * 65, "caf\u00e9"])
def test_a_profile_that_is_not_a_name_is_refused_with_the_rule(name):
    with pytest.raises(ConfigError, match=r"profile .*: a name may use letters, digits, '_' and '-' only"):
        config.resolve(name)


@pytest.mark.parametrize("name", ["m2<img onerror=alert(1)>", "o'brien"])
def test_a_profile_file_with_markup_in_its_name_is_not_run(run, tmp_path, name):
    # the file exists: only the name rule stops it, before anything is written
    (run.pdir / "profiles" / f"{name}.yaml").write_text("period_kind: quarter\nnotebooks: [00_data_overview]\n")
    reports = tmp_path / "reports"
    code, err = run(name, reports)
    assert code == 2 and "a name may use letters, digits, '_' and '-' only" in err and "Traceback" not in err
    assert not reports.exists()


def test_a_profile_path_cannot_read_or_write_outside_its_folders(run, tmp_path):
    # a YAML planted where '../../../../tmp/x' pointed, and the folder the pack would have gone to
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = run.pdir / "profiles" / ".." / ".." / "outside" / "x.yaml"
    planted.write_text("period_kind: quarter\nnotebooks: [00_data_overview]\n")
    assert planted.resolve() == outside / "x.yaml"
    reports = tmp_path / "reports"
    code, err = run("../../outside/x", reports)
    assert code == 2 and "profile '../../outside/x': a name may use" in err
    assert _files(outside) == {"x.yaml": planted.read_bytes()} and not reports.exists()


def test_a_period_that_is_not_a_period_is_refused(run, tmp_path):
    code, err = run("overview", tmp_path / "reports", "--period", "../../2026Q3")
    assert code == 2 and "period '../../2026Q3': expected a month (2026-09), quarter (2026Q3) or year" in err
    assert not (tmp_path / "reports").exists()


def test_notebook_names_and_action_ids_are_names(tmp_path):
    with pytest.raises(ConfigError, match=r"--set: notebooks: .*notebook name\(s\) \['\.\./x'\]: a name may use"):
        config.resolve("quarterly", ["notebooks=[00_data_overview, ../x]"])
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "actions.yaml").write_text("actions:\n  - {id: \"<b>A</b>\", name: x, owner: y, start_date: 2025-01-01, "
                                       "kpi: csat_mean, expected_effect: 1}\n")
    with pytest.raises(ConfigError, match=r"actions\[0\]\.id: '<b>A</b>': an action id may use letters, digits"):
        config.resolve("quarterly", parameters_dir=pdir)


# --------------------------------------------------------------------------- symlinks planted in reports_dir

@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside reports_dir that a followed symlink would overwrite."""
    v = tmp_path / "outside" / "victim.txt"
    v.parent.mkdir()
    v.write_text("precious, outside reports_dir\n")
    return v


@pytest.mark.parametrize("planted", [".2026Q3.lock", ".2026Q3.lock.json"])
def test_a_symlinked_lock_is_refused_with_one_line_and_its_target_untouched(run, tmp_path, victim, planted):
    reports = tmp_path / "reports"
    (reports / "overview").mkdir(parents=True)
    (reports / "overview" / planted).symlink_to(victim)
    code, err = run("overview", reports)
    assert code == 6, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert f"{reports / 'overview' / planted}: it is a symbolic link (to {victim})" in lines[0]
    assert "remove it and run again" in lines[0]
    assert victim.read_text() == "precious, outside reports_dir\n"
    assert not (reports / "overview" / "2026Q3").exists() and not list(reports.rglob(".build-*"))


def test_a_symlinked_pack_folder_is_refused_before_any_notebook(run, tmp_path, victim):
    reports = tmp_path / "reports"
    (reports / "overview").mkdir(parents=True)
    (reports / "overview" / "2026Q3").symlink_to(victim.parent, target_is_directory=True)
    code, err = run("overview", reports, "--force")
    assert code == 6 and "2026Q3: it is a symbolic link" in err
    assert _files(victim.parent) == {"victim.txt": b"precious, outside reports_dir\n"}
    assert not (reports / "overview" / ".archive").exists()


def test_a_planted_temporary_file_is_never_followed(tmp_path, victim):
    root = tmp_path / "reports"
    root.mkdir()
    (root / ".index.html.tmp").symlink_to(victim)  # the name index.py used for its temporary file
    fsafe.write_text(root, root / "index.html", "<html>index</html>")
    assert (root / "index.html").read_text() == "<html>index</html>" and not (root / "index.html").is_symlink()
    assert victim.read_text() == "precious, outside reports_dir\n"
    assert sorted(p.name for p in root.iterdir()) == [".index.html.tmp", "index.html"]  # no temporary left


def test_a_symlinked_target_or_folder_is_refused(tmp_path, victim):
    root = tmp_path / "reports"
    root.mkdir()
    (root / "index.html").symlink_to(victim)
    (root / "index_files").symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(EnvironmentFault, match=r"index\.html: it is a symbolic link .*remove it and run again"):
        fsafe.write_text(root, "index.html", "x")
    with pytest.raises(EnvironmentFault, match=r"index_files: it is a symbolic link"):
        fsafe.makedirs(root, root / "index_files")
    with pytest.raises(EnvironmentFault, match=r"index_files: it is a symbolic link"):
        with fsafe.atomic_open(root, "index_files/quarterly_kpis.png") as f:
            f.write(b"png")
    with pytest.raises(EnvironmentFault, match=r"index\.html: it is a symbolic link"):
        fsafe.replace(root, root / "index.html", root / "moved.html")
    assert _files(victim.parent) == {"victim.txt": b"precious, outside reports_dir\n"}


@pytest.mark.parametrize("path", ["../outside/victim.txt", "a/../../outside/victim.txt", "/etc/passwd"])
def test_writes_outside_the_root_are_refused(tmp_path, victim, path):
    root = tmp_path / "reports"
    root.mkdir()
    with pytest.raises(EnvironmentFault, match=r"outside the reports folder"):
        fsafe.write_text(root, path, "x")
    assert victim.read_text() == "precious, outside reports_dir\n"


def test_a_reports_dir_that_is_itself_a_symlink_is_allowed(tmp_path):
    # an operator may keep reports on another disk: the root may be a link, what is below it may not
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "reports").symlink_to(disk, target_is_directory=True)
    fsafe.makedirs(tmp_path / "reports", tmp_path / "reports" / "quarterly" / "2026Q3")
    fsafe.write_text(tmp_path / "reports", tmp_path / "reports" / "quarterly" / "2026Q3" / "a.json", "{}")
    assert (disk / "quarterly" / "2026Q3" / "a.json").read_text() == "{}"


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    (root / "index.html").write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with fsafe.atomic_open(root, "index.html") as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert [p.name for p in root.iterdir()] == ["index.html"] and (root / "index.html").read_text() == "old"


def test_try_lock_excludes_filelock_holders_and_is_released(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    with FileLock(str(root / ".2026Q3.lock"), timeout=0):
        assert fsafe.try_lock(root, root / ".2026Q3.lock") is None
    fd = fsafe.try_lock(root, root / ".2026Q3.lock")
    assert fd is not None
    fsafe.unlock(fd)
    with FileLock(str(root / ".2026Q3.lock"), timeout=0):
        pass


def test_a_read_only_folder_is_one_line_saying_what_to_do(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): needs root and CAP_SYS_ADMIN")
    try:
        with pytest.raises(EnvironmentFault, match=r"^reports folder .*/ro/q \(its nearest existing folder .*/ro\) is not writable: .*/ro is on a "
                                                   r"read-only file system; remount it read-write or set reports_dir"):
            fsafe.check_writable(d / "q", 0)
        with pytest.raises(OSError) as e:
            fsafe.write_text(d, "x.json", "{}")
        assert "read-only file system" in str(fsafe.fault(e.value, "writing"))
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)
    assert os.listdir(d) == []
