"""The per-customer activity tables of one customer chunk, and the satisfaction model.

``_chunk_tables`` draws a chunk's accounts, month-end balances, transactions (everyday
and BG/NBD fee-bearing purchases), complaints and surveys; ``_survey_scores`` is the
planted satisfaction model, also behind ``expected_action_lift``.
"""

from __future__ import annotations

import numpy as np

from crm_lib.data import personas as P
from crm_lib.data._synth.arrays import _choice_rows, _customer_ids, _expand, _ids, _labels, _month_ends, _order_by, _rank_within
from crm_lib.data._synth.arrays import _rng, _table
from crm_lib.data._synth.people import _persona_attr, _persona_lookup
from crm_lib.data._synth.spec import CORPORATE_PRODUCTS, DAY, INDIVIDUAL_PRODUCTS, INVESTMENT_SHARE, LOAN_PROB, LOAN_SIZE
from crm_lib.data._synth.spec import TOUCHPOINTS, TXN_TYPES, YEAR_DAYS, BankSpec, _history_start


# --------------------------------------------------------------------------- per-chunk tables

PERSONA_AUM = _persona_attr("aum")
PERSONA_AUM_SD = _persona_attr("aum_sd")
PERSONA_DRIFT = _persona_attr("aum_drift")
PERSONA_VOL = _persona_attr("aum_vol")
PERSONA_MIX = np.array([p.channel_mix for p in P.PERSONAS], dtype=float)
PERSONA_TXN_RATE = _persona_attr("txn_rate")
PERSONA_TXN_AMOUNT = _persona_attr("txn_amount")


def _chunk_tables(spec: BankSpec, chunk: int, lo: int, c: dict, contacts: dict,
                  id_offsets: dict) -> tuple[dict, dict, dict]:
    """The per-customer tables of customers ``lo .. lo + len(c) - 1`` (arrays ``c``).

    Returns the Arrow tables by name, the chunk's BG/NBD truth columns and its
    complaint truth columns.
    """
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, 10, chunk)
    pid = c["persona_id"]
    n = len(pid)
    is_ind = c["is_individual"]
    onboard = c["onboard"].astype("datetime64[D]")
    closed = c["closed_date"].astype("datetime64[D]")
    voluntary = c["voluntary"]
    obs_start = np.maximum(onboard, hs)
    obs_end = np.where(np.isnat(closed), end, closed)
    span_days = np.maximum((obs_end - obs_start).astype(int), 0)
    ch = P.ChurnTruth()
    cust_ids = _customer_ids(lo + np.arange(n))
    out = {}

    # accounts -------------------------------------------------------------
    n_prod = c["n_products_at_onboarding"]
    k_ind, k_corp = len(INDIVIDUAL_PRODUCTS), len(CORPORATE_PRODUCTS)
    keys = rng.random((n, max(k_ind, k_corp)))
    keys[:, 0] = -1.0  # the current account is always first
    keys[~is_ind, k_corp:] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    rows = _expand(n_prod)
    slot = _rank_within(rows)
    prod_idx = order[rows, slot]
    product_labels = list(INDIVIDUAL_PRODUCTS + CORPORATE_PRODUCTS)
    product = np.where(is_ind[rows], np.minimum(prod_idx, k_ind - 1), k_ind + np.minimum(prod_idx, k_corp - 1))
    acc_rows = rows
    acc_open = onboard[rows]
    acc_close = closed[rows]
    # cross-sell responders open the target product within 30 days of contact, if still customers
    camp = contacts["campaign"]
    cs = np.flatnonzero(contacts["responded"] & contacts["is_cross_sell"][camp]
                        & (contacts["pos"] >= lo) & (contacts["pos"] < lo + n))
    if len(cs):
        for tp in contacts["target_product"]:
            if tp not in product_labels:
                product_labels.append(tp)
        tp_code = np.array([product_labels.index(tp) for tp in contacts["target_product"]])[camp[cs]]
        pos = contacts["pos"][cs] - lo
        od = contacts["contacted_at"][cs].astype("datetime64[D]") + rng.integers(1, 31, len(cs)).astype("timedelta64[D]")
        ok = (od <= obs_end[pos]) & is_ind[pos]
        acc_rows = np.r_[acc_rows, pos[ok]]
        product = np.r_[product, tp_code[ok]]
        acc_open = np.r_[acc_open, od[ok]]
        acc_close = np.r_[acc_close, closed[pos][ok]]
    out["accounts"] = _table({
        "account_id": _ids("ACC", id_offsets["accounts"], len(acc_rows), 9),
        "customer_id": cust_ids.take(acc_rows),
        "product": _labels(product_labels, product),
        "open_date": acc_open.astype("datetime64[s]"),
        "close_date": acc_close.astype("datetime64[s]")})

    # balances: month-ends while a customer ----------------------------------
    months = _month_ends(hs, end)
    m0 = np.searchsorted(months, obs_start)                      # first month-end on/after start
    m1 = np.where(np.isnat(closed), len(months), np.searchsorted(months, obs_end, side="left"))
    nm = np.maximum(m1 - m0, 0)
    brow = _expand(nm)
    bmonth = m0[brow] + _rank_within(brow)
    drift = PERSONA_DRIFT[pid]
    vol = PERSONA_VOL[pid]
    base = np.log(PERSONA_AUM[pid]) + rng.normal(0, PERSONA_AUM_SD[pid])
    steps = drift[brow] + vol[brow] * rng.standard_normal(len(brow))
    csum = np.cumsum(steps)
    del steps
    first = np.r_[0, np.cumsum(nm)[:-1]]
    before = np.r_[0.0, csum][first]          # cumulative sum just before each customer's run
    log_aum = base[brow] + csum - before[brow]
    del csum
    # wind-down before a voluntary exit: AUM flows out
    bdate = months[bmonth]
    exit_day = c["exit_date"].astype("datetime64[D]")
    months_to_exit = np.where(voluntary[brow], (exit_day[brow] - bdate).astype(int) / 30.44, np.inf)
    wind = np.clip(ch.wind_down_months - months_to_exit, 0, None)
    del months_to_exit
    log_aum = log_aum + np.log(1 - ch.wind_down_aum_outflow) * wind
    aum = np.exp(log_aum)
    del log_aum
    inv_share = np.clip(_persona_lookup(INVESTMENT_SHARE)[pid] * rng.uniform(0.5, 1.5, n), 0, 0.95)
    has_loan = rng.random(n) < _persona_lookup(LOAN_PROB)[pid]
    loan0 = np.where(has_loan, _persona_lookup(LOAN_SIZE)[pid] * np.exp(rng.normal(0, 0.5, n)), 0.0)
    age_m = (bdate - onboard[brow]).astype(int) / 30.44
    out["balances"] = _table({
        "customer_id": cust_ids.take(brow),
        "month": months.astype("datetime64[s]")[bmonth],
        "deposits": np.round(aum * (1 - inv_share[brow]), 2),
        "investments": np.round(aum * inv_share[brow], 2),
        "loans": np.round(np.clip(loan0[brow] * (1 - age_m / 300.0), 0, None), 2)})
    del aum, age_m, bdate

    # everyday transactions: Poisson per active month, channel from the customer's mix -----
    mix = PERSONA_MIX[pid]
    digital = c["digital_active"]
    mix[:, 1:3] *= np.where(digital, 1.8, 0.5)[:, None]
    mix = rng.gamma(mix * 40 + 0.05)          # Dirichlet around the persona mix
    mix /= mix.sum(axis=1, keepdims=True)
    activity = rng.gamma(4.0, 0.25, n)
    rate = PERSONA_TXN_RATE[pid] * activity
    mrate = rate[brow] * np.where(wind > 0, ch.wind_down_txn_factor, 1.0)
    del wind
    cnt = rng.poisson(mrate)
    del mrate
    trow = _expand(cnt)
    tcust = brow[trow]
    tmonth = bmonth[trow]
    del trow, cnt
    mend = months[tmonth]
    mstart = months.astype("datetime64[M]").astype("datetime64[D]")[tmonth]
    del tmonth
    tlo = np.maximum(mstart, obs_start[tcust])
    width = np.maximum((mend - tlo).astype(int) + 1, 1)
    del mend, mstart
    n_ev = len(tcust)
    secs = (tlo.astype("datetime64[s]") + (rng.random(n_ev) * width * 86400).astype("timedelta64[s]"))
    del tlo, width
    chan = _choice_rows(rng, mix, tcust)
    ttype = np.where(chan == 3, 3, rng.choice([0, 1, 2, 4], n_ev, p=[0.45, 0.25, 0.2, 0.1]))
    amount = np.round(PERSONA_TXN_AMOUNT[pid][tcust] * np.exp(rng.normal(0, 0.9, n_ev)), 2)

    # fee-bearing purchases: BG/NBD counts and timing, Gamma-Gamma spend ---------------
    tt = P.TransactionalTruth()
    lam = rng.gamma(tt.r, 1.0 / tt.alpha, n)
    pdrop = rng.beta(tt.a, tt.b, n)
    nu = rng.gamma(tt.q, 1.0 / tt.gamma, n)
    weeks = span_days / 7.0
    n_poisson = rng.poisson(lam * weeks)
    j_alive = rng.geometric(pdrop)               # purchases made before becoming inactive
    x = np.minimum(n_poisson, j_alive)
    prow = _expand(n_poisson)
    u = rng.random(len(prow)) * weeks[prow]
    o = _order_by(prow, u)
    prow, u = prow[o], u[o]
    keep = _rank_within(prow) < x[prow]
    prow, u = prow[keep], u[keep]
    pts = obs_start[prow].astype("datetime64[s]") + (u * 7 * 86400).astype("timedelta64[s]")
    pamount = np.round(rng.gamma(tt.p_spend, 1.0 / nu[prow]), 2)
    pchan = _choice_rows(rng, mix, prow)

    cid = np.r_[tcust, prow]
    del tcust
    ts = np.r_[secs, pts]
    del secs
    o = _order_by(cid, ts.astype(np.int64))
    n_tx = len(cid)
    out["transactions"] = _table({
        "txn_id": _ids("TXN", id_offsets["transactions"], n_tx, 11),
        "customer_id": cust_ids.take(cid[o]),
        "ts": ts[o],
        "amount": np.r_[amount, pamount][o],
        "channel": _labels(P.CHANNELS, np.r_[chan, pchan][o]),
        "txn_type": _labels(TXN_TYPES, np.r_[ttype, np.full(len(prow), 5)][o])})
    del cid, ts, o, amount, chan, ttype
    truth_tx = {"bgnbd_lambda": lam, "bgnbd_p": pdrop, "gg_nu": nu, "purchases": x, "activity": activity}

    # complaints ------------------------------------------------------------
    cpt, act = P.ComplaintTruth(), P.ImprovementActionTruth()
    years = span_days / YEAR_DAYS
    crate = np.where(c["complaint_prone"], cpt.rate_per_year_prone, cpt.rate_per_year)
    ccount = rng.poisson(crate * years)
    crow = _expand(ccount)
    opened = obs_start[crow].astype("datetime64[s]") + (rng.random(len(crow)) * span_days[crow] * 86400).astype("timedelta64[s]")
    sev_names = list(cpt.severities)
    sev = rng.choice(len(sev_names), len(crow), p=list(cpt.severities.values()))
    med = np.array([cpt.resolution_median_days[s] for s in sev_names])[sev]
    after = opened >= np.datetime64(act.start, "s")
    days = med * np.exp(rng.normal(0, cpt.resolution_log_sd, len(crow))) * np.where(after, act.resolution_time_factor, 1.0)
    resolved = opened + (days * 86400).astype("timedelta64[s]")
    end_s = (end + DAY).astype("datetime64[s]")
    esc = rng.random(len(crow)) < np.array([cpt.escalation_prob[s] for s in sev_names])[sev]
    complaint_id = _ids("CMP", id_offsets["complaints"], len(crow), 8)
    out["complaints"] = _table({
        "complaint_id": complaint_id,
        "customer_id": cust_ids.take(crow),
        "opened_at": opened,
        "resolved_at": np.where(resolved < end_s, resolved, np.datetime64("NaT")),
        "category": _labels(list(cpt.categories), rng.choice(len(cpt.categories), len(crow), p=list(cpt.categories.values()))),
        "channel": _labels(list(cpt.channels), rng.choice(len(cpt.channels), len(crow), p=list(cpt.channels.values()))),
        "severity": _labels(sev_names, sev),
        "escalated": esc})
    truth_cmp = {"complaint_id": complaint_id, "true_resolution_days": days}

    # surveys ---------------------------------------------------------------
    st = P.SatisfactionTruth()
    scount = rng.poisson(st.responses_per_customer_year * years)
    srow = _expand(scount)
    sdate = obs_start[srow] + (rng.random(len(srow)) * span_days[srow]).astype("timedelta64[D]")
    ratings, latent = _survey_scores(rng, len(srow), sdate >= np.datetime64(act.start, "D"))
    tp_p = np.where(digital[:, None], [0.10, 0.15, 0.45, 0.20, 0.10], [0.45, 0.30, 0.05, 0.10, 0.10])
    touchpoint = _choice_rows(rng, tp_p, srow)
    out["surveys"] = _table({
        "response_id": _ids("SRV", id_offsets["surveys"], len(srow), 9),
        "customer_id": cust_ids.take(srow),
        "survey_date": sdate.astype("datetime64[s]"),
        "touchpoint": _labels(TOUCHPOINTS, touchpoint),
        "csat": (1 + (latent[:, None] > np.array(st.csat_cuts)).sum(axis=1)).astype(np.int8),
        "nps": np.clip(np.round(st.nps_centre + st.nps_slope * (latent - 3.5) + rng.normal(0, 1, len(srow))), 0, 10).astype(int).astype(np.int8),
        **{a: ratings[:, i].astype(np.int8) for i, a in enumerate(P.ATTRIBUTES)}})
    return out, truth_tx, truth_cmp


def _survey_scores(rng: np.random.Generator, n: int, after_action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attribute ratings (n x 5, integers 1-5) and the latent overall satisfaction."""
    st, act = P.SatisfactionTruth(), P.ImprovementActionTruth()
    common = rng.normal(0, st.common_factor_sd, n)
    means = np.array([st.rating_means[a] for a in P.ATTRIBUTES])
    raw = means + common[:, None] + rng.normal(0, st.specific_sd, (n, len(means)))
    raw[:, 0] += act.attr_resolution_lift * after_action
    ratings = np.clip(np.round(raw), 1, 5).astype(np.int8)
    w = np.array([st.weights[a] for a in P.ATTRIBUTES])
    latent = ratings @ w + rng.normal(0, st.noise_sd, n)
    return ratings, latent


def expected_action_lift(seed: int = 0, n: int = 400_000) -> dict:
    """Population effect of the improvement action on CSAT, by simulation from the truth."""
    st = P.SatisfactionTruth()
    out = {}
    for flag in (False, True):
        r, lat = _survey_scores(_rng(seed, 99), n, np.full(n, flag))
        csat = 1 + (lat[:, None] > np.array(st.csat_cuts)).sum(axis=1)
        out[flag] = (csat.mean(), (csat >= 4).mean(), r[:, 0].mean())
    return {"csat_mean_lift": round(float(out[True][0] - out[False][0]), 4),
            "csat_top2box_lift": round(float(out[True][1] - out[False][1]), 4),
            "attr_resolution_mean_lift": round(float(out[True][2] - out[False][2]), 4),
            "csat_mean_before": round(float(out[False][0]), 4),
            "method": f"simulated from the planted satisfaction model, n={n}"}
