"""What counts as churn, and the knobs of the churn analyses, read from the run parameters.

The parameters live under ``churn:`` in ``parameters/defaults.yaml`` (a profile or
``--set churn.kind=dormancy`` may override them); every key has the default below, so a
run without a ``churn:`` block analyses voluntary account closure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from functools import reduce

from crm_lib.data.sample import check_cap
from crm_lib.errors import ConfigError
from crm_lib.fmt import gettext as _gettext

logger = logging.getLogger(__name__)


def _english(message: str) -> str:
    return message


KINDS = ("closure", "dormancy")


@dataclass(frozen=True)
class ChurnDefinition:
    """The churn event.

    Parameters
    ----------
    kind : {"closure", "dormancy"}
        ``closure``: the customer closed the relationship (``customers.closed_date``) for one
        of ``event_reasons``. ``dormancy``: the first month-end at which the customer has made
        no transaction for ``dormant_days`` days *and* holds less than ``aum_floor`` in
        deposits + investments -- or a closure for one of ``event_reasons``, whichever is first.
    event_reasons : tuple of str or None
        ``customers.closed_reason`` values that count as churn; closures for any other reason
        are *competing exits* (censored in churn models, analysed as their own cause). ``None``
        counts every closure (also what happens when the source has no ``closed_reason``).
    dormant_days : int
        Days without any transaction (dormancy definition), > 0.
    aum_floor : float
        Deposits + investments below which a dormant customer has churned (currency), >= 0.
    censor_treated_kinds : tuple of str
        Campaign kinds whose *treatment* arm changed the customer's hazard on purpose: a
        customer contacted during follow-up is censored at the contact date (the campaign's
        effect is estimated separately, treated against its randomised control). Customers
        treated before a frame starts keep the covariate ``treated_before`` instead.
    """

    kind: str = "closure"
    event_reasons: tuple | None = ("voluntary",)
    dormant_days: int = 180
    aum_floor: float = 1_000.0
    censor_treated_kinds: tuple = ("retention",)

    def check(self) -> "ChurnDefinition":
        """Raise ``ConfigError`` naming the key when a value is out of range; return self."""
        if self.kind not in KINDS:
            raise ConfigError(f"churn.kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "dormancy" and int(self.dormant_days) <= 0:
            raise ConfigError(f"churn.dormant_days: must be > 0 days, got {self.dormant_days}")
        if float(self.aum_floor) < 0:
            raise ConfigError(f"churn.aum_floor: must be >= 0 (currency), got {self.aum_floor}")
        if self.event_reasons is not None and not len(self.event_reasons):
            raise ConfigError("churn.event_reasons: give at least one closure reason, or null for every closure")
        return self

    def describe(self, localised: bool = False) -> str:
        """The definition in one sentence, for the report.

        English by default (the facts' definitions are data); ``localised=True`` gives the page's sentence in the
        run's language (``crm_lib.fmt.gettext``).
        """
        _ = _gettext if localised else _english
        if self.event_reasons is None:
            reasons = _("any closure reason")
        else:
            names = [f"*{r.replace('_', ' ')}*" for r in self.event_reasons]
            reasons = _("closure reason {reasons}").format(
                reasons=reduce(lambda a, b: _("{first} or {second}").format(first=a, second=b), names))
        if self.kind == "dormancy":
            out = _("A customer **churns** when they have made no transaction for {days} days while holding less than "
                    "{floor} in deposits and investments (checked at month-ends), or close their relationship with "
                    "the bank ({reasons}), whichever comes first.").format(
                days=self.dormant_days, floor=f"{self.aum_floor:,.0f}", reasons=reasons)
        else:
            out = _("A customer **churns** when they close their relationship with the bank ({reasons}).").format(
                reasons=reasons)
        if self.event_reasons is not None:
            out += " " + _("Closures for other reasons are competing exits: censored in the churn models, shown as "
                           "their own cause.")
        if self.censor_treated_kinds:
            out += " " + _("Customers treated by a {kinds} campaign are censored at contact (the bank changed their "
                           "risk on purpose; the campaign's effect is measured separately).").format(
                kinds="/".join(self.censor_treated_kinds))
        return out


@dataclass(frozen=True)
class ChurnSettings:
    """Everything the churn notebooks need besides the data.

    Parameters
    ----------
    definition : ChurnDefinition
    horizons_months : tuple of int
        Prediction horizons for validation and calibration (months).
    retention_months : tuple of int
        Tenures at which retention (Kaplan-Meier survival since onboarding) is reported.
    warning_horizon_months : int
        Horizon of the early-warning probability (months).
    warning_top_share : float
        Share of active customers put on the early-warning list (0-1).
    landmark_every_months, n_landmarks : int
        Monthly-snapshot landmarking: ``n_landmarks`` snapshots ``landmark_every_months`` apart.
    penalizer, l1_ratio : float
        Cox penalty (lifelines convention: ``penalizer * (l1_ratio * |b| + (1 - l1_ratio) * b^2 / 2)``).
    n_boot : int
        Bootstrap replicates for the validation intervals.
    seed : int
    alpha : float
        1 - confidence level of every interval; also the level of the proportional-hazards test.
    window_days, aum_months, tiers
        Passed to the feature table.
    model_sample_customers : int or None
        The models' training frames (the cohort's Cox, AFT and cause-specific models, the landmark models of
        validation and early warning) take at most this many customers: above it, a proportional stratified
        sample by customer type (``crm_lib.data.sample``). Description, validation scores and the early-warning
        list still use every customer. ``None`` or 0: never sample.
    """

    definition: ChurnDefinition = field(default_factory=ChurnDefinition)
    horizons_months: tuple = (6, 12)
    retention_months: tuple = (12, 24)
    warning_horizon_months: int = 6
    warning_top_share: float = 0.05
    landmark_every_months: int = 3
    n_landmarks: int = 4
    penalizer: float = 0.0
    l1_ratio: float = 0.0
    n_boot: int = 200
    seed: int = 20261
    alpha: float = 0.05
    window_days: int = 365
    aum_months: int = 3
    tiers: dict | None = None
    model_sample_customers: int | None = 1_000_000

    @classmethod
    def from_params(cls, params: dict | None) -> "ChurnSettings":
        """Settings from resolved run parameters (their optional ``churn:`` block and shared keys).

        Raises
        ------
        ConfigError
            Naming ``churn.<key>`` for an unknown key or an out-of-range value.
        """
        params = dict(params or {})
        block = dict(params.get("churn") or {})
        def_keys = {f.name for f in fields(ChurnDefinition)}
        own = {f.name for f in fields(cls)} - {"definition", "seed", "alpha", "window_days", "aum_months", "tiers"}
        unknown = set(block) - def_keys - own
        if unknown:
            raise ConfigError(f"churn: unknown key(s) {sorted(unknown)} (known: {sorted(def_keys | own)})")
        dkw = {k: block[k] for k in def_keys if k in block}
        for k in ("event_reasons", "censor_treated_kinds"):
            if k in dkw and dkw[k] is not None:
                dkw[k] = tuple([dkw[k]] if isinstance(dkw[k], str) else dkw[k])
        definition = ChurnDefinition(**dkw).check()
        kw = {k: block[k] for k in own if k in block}
        for k in ("horizons_months", "retention_months"):
            if k in kw:
                kw[k] = tuple(int(v) for v in kw[k])
        for k in ("seed", "alpha", "window_days", "aum_months", "tiers"):
            if k in params:
                kw[k] = params[k]
        s = cls(definition=definition, **kw)
        return s.check()

    @property
    def model_sample(self) -> int | None:
        """The training frames' cap on customers, checked (``None``: never sample)."""
        return check_cap(self.model_sample_customers, "churn.model_sample_customers")

    def check(self) -> "ChurnSettings":
        bad = [h for h in (*self.horizons_months, *self.retention_months, self.warning_horizon_months) if int(h) <= 0]
        if bad or not self.horizons_months:
            raise ConfigError(f"churn.horizons_months / retention_months / warning_horizon_months: every horizon "
                              f"must be > 0 months, got {bad or 'none'}")
        if not 0 < float(self.warning_top_share) <= 1:
            raise ConfigError(f"churn.warning_top_share: must be in (0, 1], got {self.warning_top_share}")
        if int(self.n_landmarks) < 1 or int(self.landmark_every_months) < 1:
            raise ConfigError("churn.n_landmarks and churn.landmark_every_months: must be >= 1")
        if float(self.penalizer) < 0 or not 0 <= float(self.l1_ratio) <= 1:
            raise ConfigError(f"churn.penalizer >= 0 and 0 <= churn.l1_ratio <= 1, got {self.penalizer}, {self.l1_ratio}")
        check_cap(self.model_sample_customers, "churn.model_sample_customers")
        if int(self.n_boot) < 20:
            raise ConfigError(f"churn.n_boot: at least 20 bootstrap replicates, got {self.n_boot}")
        return self

    def with_definition(self, **changes) -> "ChurnSettings":
        """A copy with the churn definition changed (e.g. ``kind="dormancy"``)."""
        return replace(self, definition=replace(self.definition, **changes).check())
