"""The retention campaign's effect on the churn hazard: treated against the randomised control.

Both arms are followed from their contact date (delayed entry at the tenure on that day)
to the end of the data; the hazard ratio of the treatment indicator is the campaign's
effect on the rate of churning, averaged over follow-up. Randomisation makes it causal
without covariates.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd

from crm_lib.churn import describe
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import _outcomes, _spells, years_between
from crm_lib.churn.settings import ChurnDefinition
from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.store import Warehouse

logger = logging.getLogger(__name__)


def campaign_frame(wh: Warehouse, end, campaign_id: str | None = None, kind: str = "retention",
                   definition: ChurnDefinition | None = None, key: str | None = None) -> tuple[str | None, pd.DataFrame]:
    """Contacted customers of a campaign (both arms), followed from contact to ``end``.

    Returns
    -------
    campaign_id : str or None
        The campaign analysed (default: the latest of ``kind`` started by ``end``); None if none.
    frame : DataFrame
        Survival-frame columns (``entry`` = tenure at contact) plus ``group``
        ('treatment'/'control'), ``treated`` (0/1), ``contacted_at`` and
        ``time_since_contact`` (years). Customers who had already left by the contact day are
        excluded. Empty when the campaign has no contacts.
    """
    end = pd.Timestamp(end).normalize()
    key = key or pseudonym_key()
    empty = pd.DataFrame(columns=["customer_id", "group", "treated", "entry", "duration", "event"])
    if not (wh.has("campaigns") and wh.has("campaign_contacts")):
        return None, empty
    if campaign_id is None:
        c = wh.sql(f"SELECT campaign_id FROM campaigns WHERE kind = ? AND start_date <= DATE '{end.date()}' "
                   "ORDER BY start_date DESC LIMIT 1", [str(kind)])
        if c.empty:
            return None, empty
        campaign_id = str(c.iloc[0, 0])
    pid = pseudonym_sql("customer_id", key)
    nxt = (end + pd.Timedelta(days=1)).date()
    contacts = wh.sql(f"""SELECT {pid} AS customer_id, "group", CAST(min(contacted_at) AS DATE) AS contacted_at
        FROM campaign_contacts WHERE campaign_id = ? AND contacted_at < TIMESTAMP '{nxt} 00:00:00'
        GROUP BY 1, 2""", [str(campaign_id)])
    if contacts.empty:
        return campaign_id, empty
    contacts["contacted_at"] = pd.to_datetime(contacts["contacted_at"])
    definition = replace(definition or ChurnDefinition(), censor_treated_kinds=())
    o = _outcomes(wh, end, definition, key).merge(contacts, on="customer_id", how="inner")
    f = _spells(o, o["contacted_at"], end, censor_contacts=False)
    f = f[f["onboard_date"] < f["contacted_at"]].copy()       # at risk at contact (tenure > 0)
    f["treated"] = f["group"].eq("treatment").astype(int)
    f["time_since_contact"] = years_between(f["contacted_at"], f["exit_date"])
    return campaign_id, f.reset_index(drop=True)


def campaign_effect(wh: Warehouse, end, campaign_id: str | None = None, definition: ChurnDefinition | None = None,
                    key: str | None = None, alpha: float = 0.05, months: int = 12) -> tuple[pd.Series, pd.DataFrame]:
    """Hazard ratio of churn, treated vs control, with CI; and retention curves by arm since contact.

    Returns
    -------
    summary : Series with ``campaign_id``, ``status`` ('ok' or why nothing was estimated),
        ``n_treated``, ``n_control``, ``events_treated``, ``events_control``, ``hr``,
        ``hr_lower``, ``hr_upper``, ``p`` (Wald), ``logrank_p``, and
        ``churn_<months>m_treated`` / ``_control`` (Kaplan-Meier probability of churning
        within ``months`` of contact, 0-1) with ``_lower``/``_upper``.
    curves : DataFrame from ``describe.km_curves`` by arm on the time since contact
        (``time`` in years since contact).
    """
    cid, f = campaign_frame(wh, end, campaign_id, definition=definition, key=key)
    base = {"campaign_id": cid}
    if cid is None:
        return pd.Series({**base, "status": "no retention campaign in the data"}), pd.DataFrame()
    arms = f["group"].value_counts() if len(f) else pd.Series(dtype=int)
    if arms.get("treatment", 0) == 0 or arms.get("control", 0) == 0:
        return pd.Series({**base, "status": f"campaign {cid} has no contacts in both arms by {pd.Timestamp(end).date()}",
                          "n_treated": int(arms.get("treatment", 0)), "n_control": int(arms.get("control", 0))}), \
            pd.DataFrame()
    ev = f.groupby("group")["event"].sum()
    out = {**base, "status": "ok", "n_treated": int(arms["treatment"]), "n_control": int(arms["control"]),
           "events_treated": int(ev.get("treatment", 0)), "events_control": int(ev.get("control", 0))}
    if ev.sum() == 0:
        out["status"] = "no churn events among contacted customers yet"
        return pd.Series(out), pd.DataFrame()
    m = ChurnCox(covariates=["treated"], alpha=alpha).fit(f, table=f"campaign_contacts[{cid}]")
    s = m.summary_.loc["treated"]
    out.update({"hr": s["hr"], "hr_lower": s["hr_lower"], "hr_upper": s["hr_upper"], "p": s["p"]})
    since = f.assign(duration=f["time_since_contact"], entry=0.0, arm=f["group"])
    overall, _ = describe.logrank(since.assign(entry=f["entry"], duration=f["duration"]), by="arm", min_n=1)
    out["logrank_p"] = overall["p"]
    ret = describe.retention_summary(since, by="arm", months=(months,), alpha=alpha, min_n=1).set_index("group")
    for arm, lab in (("treatment", "treated"), ("control", "control")):
        r = ret.loc[arm]
        out[f"churn_{months}m_{lab}"] = 1 - r[f"retention_{months}m"]
        out[f"churn_{months}m_{lab}_lower"] = 1 - r[f"retention_{months}m_upper"]
        out[f"churn_{months}m_{lab}_upper"] = 1 - r[f"retention_{months}m_lower"]
    curves = describe.km_curves(since, by="arm", step_years=1 / 12, alpha=alpha, min_n=1)
    logger.info("campaign %s: HR %.3f (%.3f-%.3f)", cid, out["hr"], out["hr_lower"], out["hr_upper"])
    return pd.Series(out), curves
