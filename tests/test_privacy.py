"""Keyed pseudonymisation and PII removal."""

import logging
import os

import duckdb
import pandas as pd
import pytest

from crm_lib.data import privacy
from crm_lib.errors import EnvironmentFault


def test_python_and_sql_pseudonyms_agree_and_depend_on_the_key():
    ids = ["CUS00000001", "CUS00000002", "CUS12345678"]
    py = [privacy.pseudonymise_id(i, "k1") for i in ids]
    con = duckdb.connect()
    sql = con.execute(f"SELECT {privacy.pseudonym_sql('x', 'k1')} FROM unnest(?) t(x)", [ids]).fetchall()
    assert py == [r[0] for r in sql]
    assert len(set(py)) == 3 and all(p.startswith("P") and len(p) == 16 for p in py)
    assert py != [privacy.pseudonymise_id(i, "k2") for i in ids]
    assert py == [privacy.pseudonymise_id(i, "k1") for i in ids]  # stable across calls
    assert privacy.pseudonymise_ids(ids, "k1") == py                # the batch form is the same function


def test_safe_frame_drops_pii_and_keeps_the_input(tmp_path):
    df = pd.DataFrame({"customer_id": ["CUS1", "CUS2"], "full_name": ["A B", "C D"], "email": ["a@x", "c@x"],
                       "phone": ["1", "2"], "national_id": ["X", "Y"], "aum": [1.0, 2.0]})
    out = privacy.safe_frame(df, key="k")
    assert list(out.columns) == ["customer_id", "aum"]
    assert out["customer_id"].tolist() == [privacy.pseudonymise_id("CUS1", "k"), privacy.pseudonymise_id("CUS2", "k")]
    assert df["customer_id"].tolist() == ["CUS1", "CUS2"]  # input untouched
    with pytest.raises(ValueError, match=r"report: PII column\(s\) \['email'\]"):
        privacy.assert_no_pii(df[["email"]], "report")


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "from-env")
    assert privacy.pseudonym_key() == "from-env"


def test_unset_key_warns_loudly_and_uses_a_per_install_key(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="crm_lib.data.privacy"):
        k1 = privacy.pseudonym_key()
        k2 = privacy.pseudonym_key()
    assert k1 == k2 and len(k1) == 64
    assert (tmp_path / "crm-workbench" / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    assert "CRM_PSEUDONYM_KEY is not set" in caplog.text


def test_the_key_folder_is_0700_and_the_key_0600_whatever_the_umask(monkeypatch, tmp_path):
    # issue #20: under umask 000 the folder took mode 0777 and anyone could swap the key
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    old = os.umask(0o000)
    try:
        privacy.pseudonym_key()
    finally:
        os.umask(old)
    assert (tmp_path / "crm-workbench").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "crm-workbench" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o666, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused_with_the_fix(monkeypatch, tmp_path, mode):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    key = privacy.pseudonym_key()
    path = tmp_path / "crm-workbench" / "pseudonym.key"
    os.chmod(path, mode)
    with pytest.raises(EnvironmentFault, match=rf"pseudonym key file {path} is open to others \(mode 0{mode:o}\).*"
                                               rf"Run `chmod 600 {path}`"):
        privacy.pseudonym_key()
    os.chmod(path, 0o600)
    assert privacy.pseudonym_key() == key  # fixed as the message says, the same key is used again


def test_a_key_folder_others_can_write_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "crm-workbench").mkdir()
    os.chmod(tmp_path / "crm-workbench", 0o777)
    with pytest.raises(EnvironmentFault, match=r"folder .*crm-workbench is writable by others \(mode 0777\).*chmod 700"):
        privacy.pseudonym_key()
    assert not (tmp_path / "crm-workbench" / "pseudonym.key").exists()


def test_a_symlinked_key_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "theirs.key").write_text("a key someone else chose")
    folder = tmp_path / "cfg" / "crm-workbench"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "pseudonym.key").symlink_to(tmp_path / "theirs.key")
    with pytest.raises(EnvironmentFault, match=r"pseudonym\.key is a symbolic link"):
        privacy.pseudonym_key()
