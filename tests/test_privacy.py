"""Keyed pseudonymisation and PII removal."""

import logging

import duckdb
import pandas as pd
import pytest

from crm_lib.data import privacy


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
