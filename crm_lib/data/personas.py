"""The planted truth of the synthetic bank: personas, hazards, processes and effects.

Everything the generator plants is stated here once, so that ``ground_truth.json``
and the tests read the same numbers the generator used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CHANNELS = ("branch", "mobile", "online", "atm", "phone")
ATTRIBUTES = ("attr_resolution", "attr_fees", "attr_digital", "attr_staff", "attr_speed")


@dataclass(frozen=True)
class Persona:
    """One planted customer persona.

    ``aum`` is the median starting AUM (currency), ``aum_drift`` and ``aum_vol`` the
    monthly drift and volatility of log AUM, ``txn_rate`` everyday transactions per
    month, ``channel_mix`` the expected share per channel in ``CHANNELS`` order.
    """

    name: str
    customer_type: str
    share: float
    age_mean: float
    age_sd: float
    income: float          # median annual income (individuals) or revenue (corporates)
    aum: float
    aum_sd: float          # sd of log starting AUM
    aum_drift: float
    aum_vol: float
    products: float        # mean extra products at onboarding (1 + Poisson)
    txn_rate: float
    txn_amount: float      # median everyday transaction amount
    channel_mix: tuple
    digital_prob: float    # probability of being a digitally active customer


PERSONAS: tuple[Persona, ...] = (
    Persona("young_digital", "individual", 0.26, 27, 4, 32_000, 6_000, 0.7, 0.010, 0.06,
            0.4, 1.4, 45, (0.02, 0.62, 0.22, 0.12, 0.02), 0.85),
    Persona("family_mainstream", "individual", 0.30, 42, 6, 55_000, 35_000, 0.6, 0.004, 0.05,
            1.4, 1.0, 90, (0.15, 0.35, 0.25, 0.20, 0.05), 0.50),
    Persona("professional", "individual", 0.16, 38, 6, 130_000, 160_000, 0.5, 0.008, 0.06,
            2.0, 0.9, 220, (0.05, 0.40, 0.45, 0.05, 0.05), 0.70),
    Persona("retiree_saver", "individual", 0.20, 71, 6, 28_000, 260_000, 0.5, -0.002, 0.04,
            1.0, 0.45, 120, (0.55, 0.05, 0.08, 0.12, 0.20), 0.12),
    Persona("private_client", "individual", 0.08, 57, 8, 420_000, 2_600_000, 0.5, 0.005, 0.05,
            2.8, 0.6, 1_800, (0.30, 0.20, 0.35, 0.02, 0.13), 0.40),
    Persona("micro_business", "corporate", 0.55, 0, 0, 400_000, 90_000, 0.7, 0.003, 0.07,
            0.6, 1.2, 600, (0.30, 0.30, 0.25, 0.10, 0.05), 0.55),
    Persona("sme_trader", "corporate", 0.35, 0, 0, 9_000_000, 1_500_000, 0.6, 0.004, 0.06,
            1.6, 1.6, 6_000, (0.10, 0.15, 0.65, 0.02, 0.08), 0.65),
    Persona("large_corporate", "corporate", 0.10, 0, 0, 300_000_000, 30_000_000, 0.6, 0.004, 0.05,
            3.0, 2.2, 90_000, (0.08, 0.05, 0.80, 0.00, 0.07), 0.80),
)

INDIVIDUAL_SHARE = 0.9   # individuals : corporates = 9 : 1

# Value tiers by average AUM (deposits + investments) over the last 3 months, currency.
TIER_THRESHOLDS = {
    "individual": {"mass": 0.0, "affluent": 100_000.0, "private_banking": 1_000_000.0},
    "corporate": {"sme": 0.0, "large_corporate": 10_000_000.0},
}
TIER_AUM_MONTHS = 3


@dataclass(frozen=True)
class ChurnTruth:
    """Weibull proportional hazards for voluntary closure, time in years since onboarding.

    S(t | x) = exp(-(t / scale) ** shape * exp(x'beta)); hazard ratios are exp(beta) for
    one unit (or the stated level against its reference). Bank-initiated closure is an
    independent competing exit with a constant hazard (per year).
    """

    shape: float = 1.3
    scale: float = 9.0
    hazard_ratios: dict = field(default_factory=lambda: {
        "complaint_prone": 1.8,        # latent trait that also drives complaints (vs not)
        "n_products_at_onboarding": 0.82,  # per product held at onboarding
        "digital_active": 0.70,        # digitally active customer (vs not)
        "age_under_30": 1.35,          # individuals aged < 30 (vs 30-64 individuals)
        "age_65_plus": 0.75,           # individuals aged 65+ (vs 30-64 individuals)
        "corporate": 0.80,             # corporates (vs individuals aged 30-64)
    })
    bank_initiated_rate: float = 0.006
    # In the months before a voluntary closure the customer winds down: everyday
    # transactions fall to this share and AUM flows out at this rate per month.
    wind_down_months: int = 6
    wind_down_txn_factor: float = 0.35
    wind_down_aum_outflow: float = 0.25


@dataclass(frozen=True)
class RetentionTruth:
    """A dated, randomised retention campaign with a planted hazard ratio for the treated arm."""

    campaign_id: str = "RET-2024Q2"
    start: str = "2024-04-01"
    end: str = "2024-05-31"
    eligible_share: float = 0.20   # of customers active at the start
    treatment_share: float = 0.5
    hazard_ratio: float = 0.65     # treated vs control, from contact onwards
    response_control: float = 0.05
    response_treatment: float = 0.12
    revenue_per_response: float = 150.0
    cost_per_contact: float = 4.0


@dataclass(frozen=True)
class TransactionalTruth:
    """BG/NBD purchase process and Gamma-Gamma spend for fee-bearing purchases.

    Time unit: weeks. Purchase rate lambda ~ Gamma(shape=r, rate=alpha); after each
    purchase the customer becomes inactive with probability p ~ Beta(a, b). Spend per
    purchase z ~ Gamma(shape=p_spend, rate=nu), nu ~ Gamma(shape=q, rate=gamma)
    (Fader, Hardie & Lee 2005; Fader & Hardie 2013). The process starts at the later
    of onboarding and the history start and stops at account closure.
    """

    r: float = 0.25
    alpha: float = 4.0
    a: float = 0.8
    b: float = 2.4
    p_spend: float = 6.0
    q: float = 4.0
    gamma: float = 40.0


@dataclass(frozen=True)
class SatisfactionTruth:
    """Attribute ratings (1-5) drive overall satisfaction with these weights.

    latent = sum(weight * rating) + N(0, noise_sd); CSAT and NPS are cuts of the latent.
    """

    weights: dict = field(default_factory=lambda: {
        "attr_resolution": 0.34, "attr_fees": 0.26, "attr_digital": 0.20,
        "attr_staff": 0.13, "attr_speed": 0.07,
    })
    rating_means: dict = field(default_factory=lambda: {
        "attr_resolution": 3.5, "attr_fees": 3.0, "attr_digital": 3.8,
        "attr_staff": 4.0, "attr_speed": 3.4,
    })
    common_factor_sd: float = 0.55   # shared by a response's ratings: makes them collinear
    specific_sd: float = 0.75
    noise_sd: float = 0.35
    # Cuts of the latent into CSAT 1..5 and the NPS centre are set so the demo reads like a retail
    # bank (generator 4): CSAT top-2-box ~72% before the improvement action and ~80% after it, NPS
    # ~+1 before and ~+18 after (retail banks: about -20 to +40). Only these mappings moved; the
    # ratings, weights and the action's lift of the resolution rating are as before.
    csat_cuts: tuple = (2.0, 2.55, 3.05, 3.95)    # latent -> CSAT 1..5
    nps_centre: float = 7.6                          # NPS = round(nps_centre + slope*(latent-3.5)+N(0,1)), 0-10
    nps_slope: float = 2.6
    responses_per_customer_year: float = 0.35


@dataclass(frozen=True)
class ComplaintTruth:
    """Complaints: a Poisson process per customer, severity-dependent resolution times."""

    rate_per_year: float = 0.06
    rate_per_year_prone: float = 0.60
    complaint_prone_share: float = 0.15
    categories: dict = field(default_factory=lambda: {
        "fees_charges": 0.28, "service_quality": 0.22, "digital_banking": 0.18,
        "cards_payments": 0.16, "lending": 0.10, "fraud_security": 0.06})
    channels: dict = field(default_factory=lambda: {
        "phone": 0.40, "branch": 0.25, "online": 0.20, "mobile": 0.15})
    severities: dict = field(default_factory=lambda: {"low": 0.55, "medium": 0.33, "high": 0.12})
    # Lognormal resolution time: median days and sd of log days, by severity.
    resolution_median_days: dict = field(default_factory=lambda: {
        "low": 3.0, "medium": 8.0, "high": 18.0})
    resolution_log_sd: float = 0.8
    escalation_prob: dict = field(default_factory=lambda: {"low": 0.03, "medium": 0.10, "high": 0.30})
    sla_days: dict = field(default_factory=lambda: {"low": 5, "medium": 15, "high": 30})


@dataclass(frozen=True)
class ImprovementActionTruth:
    """A dated improvement action: faster complaint handling, better problem resolution."""

    action_id: str = "ACT-01"
    name: str = "Complaint handling redesign"
    start: str = "2025-04-01"
    resolution_time_factor: float = 0.70     # resolution times multiplied by this after start
    attr_resolution_lift: float = 0.60       # shift of the resolution rating (1-5 scale)


@dataclass(frozen=True)
class CampaignTruth:
    """Randomised marketing campaigns (besides the retention one): one per quarter."""

    kinds: tuple = ("cross_sell", "activation")
    contact_share: float = 0.08
    treatment_share: float = 0.8
    response_control: dict = field(default_factory=lambda: {"cross_sell": 0.03, "activation": 0.10})
    uplift: dict = field(default_factory=lambda: {"cross_sell": 0.025, "activation": 0.05})
    revenue_per_response: dict = field(default_factory=lambda: {"cross_sell": 320.0, "activation": 60.0})
    cost_per_contact: float = 2.5


def truth_dict() -> dict:
    """Every planted parameter, JSON-ready."""
    return {
        "personas": [asdict(p) for p in PERSONAS],
        "individual_share": INDIVIDUAL_SHARE,
        "tiers": {"thresholds": TIER_THRESHOLDS, "aum_months": TIER_AUM_MONTHS,
                  "aum_definition": "deposits + investments, mean of the last 3 month-ends"},
        "churn": asdict(ChurnTruth()),
        "retention_campaign": asdict(RetentionTruth()),
        "transactional": asdict(TransactionalTruth()),
        "satisfaction": asdict(SatisfactionTruth()),
        "complaints": asdict(ComplaintTruth()),
        "improvement_action": asdict(ImprovementActionTruth()),
        "campaigns": asdict(CampaignTruth()),
    }
