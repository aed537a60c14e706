"""Typed models of the parameters that more than one pipeline reads.

Kedro 1.7 validates a ``params:`` node input against the pydantic model in the node's type
hint before any node runs, so an invalid configuration stops the run before data is read.
Error messages name the key and the value, e.g.
``temporal_splits.test: start_date 2008-01-01 is after end_date 2007-12-31``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.metrics import get_scorer_names

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.contracts import WINDOWS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """One temporal window, both ends inclusive."""

    start_date: dt.date
    end_date: dt.date

    @model_validator(mode="after")
    def _start_not_after_end(self) -> Window:
        if self.start_date > self.end_date:
            raise ValueError(
                f"start_date {self.start_date} is after end_date {self.end_date}; "
                f"swap them or fix the typo"
            )
        return self

    def contains(self, day: dt.date) -> bool:
        return self.start_date <= day <= self.end_date


class TemporalSplits(_Strict):
    """``temporal_splits``: train < test < oot, no overlap."""

    train: Window
    test: Window
    oot: Window

    @model_validator(mode="after")
    def _ordered_and_disjoint(self) -> TemporalSplits:
        for earlier, later in zip(WINDOWS, WINDOWS[1:]):
            first, second = getattr(self, earlier), getattr(self, later)
            if first.end_date >= second.start_date:
                raise ValueError(
                    f"{earlier}.end_date {first.end_date} must be before "
                    f"{later}.start_date {second.start_date}: windows must be ordered "
                    f"train < test < oot and must not overlap"
                )
        return self

    def windows(self) -> dict[str, Window]:
        """The windows by name, in ``contracts.WINDOWS`` order."""
        return {name: getattr(self, name) for name in WINDOWS}


#: Rules for the decision threshold, chosen on the TEST window (never OOT):
#: ``max_f1`` maximises F1, ``max_youden`` maximises sensitivity + specificity - 1,
#: ``fixed`` uses ``fixed_threshold``, ``capacity`` flags the top ``capacity.share`` of the
#: test window (or ``capacity.per_month`` encounters a month at its volume),
#: ``net_benefit`` flags from the threshold probability a team states,
#: ``net_benefit_threshold`` (the t of the decision curve).
THRESHOLD_RULES: tuple[str, ...] = (
    "max_f1",
    "max_youden",
    "fixed",
    "capacity",
    "net_benefit",
)


class CapacitySettings(_Strict):
    """``training_config.capacity``: how many encounters a team can reach.

    Either ``share`` (of a window's encounters) or ``per_month`` (encounters a month; the
    share is then per_month / the test window's encounters a month). Setting ``per_month``
    takes precedence over ``share``.
    """

    share: float = Field(default=0.2, gt=0.0, lt=1.0)
    per_month: int | None = Field(default=None, ge=1)


class CalibrationSettings(_Strict):
    """``training_config.calibration``: how the registered model's risks become probabilities.

    A ``holdout_fraction`` of the TRAIN window is kept out of the final fit and the
    calibrator (``sigmoid``: Platt scaling, two parameters; ``isotonic``: a monotone step
    function, needs more rows) is fitted on the model's scores there; XGBoost also
    early-stops on it. ``holdout: recent`` (default) holds out the most recent encounters of
    the window, so the calibrator sees how scores behave on later patients, as they will be
    used; ``patients`` holds out a random, patient-grouped share instead (in-period: on the
    UCI file it stretches scores that then come out too extreme on test and OOT). Test and
    OOT never touch calibration. ``none`` registers the raw scores and fits on every row.
    """

    method: Literal["sigmoid", "isotonic", "none"] = "sigmoid"
    holdout: Literal["recent", "patients"] = "recent"
    holdout_fraction: float = Field(default=0.15, ge=0.05, le=0.5)


class TrainingConfig(_Strict):
    """``training_config``: which algorithms run in ``__default__`` / ``training``, and how.

    Settings shared by the three algorithms; each algorithm's estimator, search space and search
    method are in its own namespaced block (``logistic_regression:``, ``random_forest:``,
    ``xgboost:``) of parameters_training.yml.
    """

    enabled_algorithms: dict[str, bool] = Field(
        default_factory=lambda: {name: True for name in ALGORITHMS}
    )
    seed: int = 42
    cv_folds: int = Field(default=5, ge=2)
    n_candidates: int = Field(default=20, ge=1)
    scoring: str = "roc_auc"
    threshold_rule: str = "max_f1"
    fixed_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)
    net_benefit_threshold: float = Field(default=0.15, gt=0.0, lt=1.0)
    #: Processes for the cross-validation fits, and threads for the final refit; -1 = all cores.
    n_jobs: int = Field(default=-1, ge=-1)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)

    @field_validator("enabled_algorithms")
    @classmethod
    def _known_algorithms(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(ALGORITHMS))
        if unknown:
            raise ValueError(
                f"unknown algorithm(s) {unknown}; valid names are {list(ALGORITHMS)}"
            )
        return value

    @field_validator("threshold_rule")
    @classmethod
    def _known_threshold_rule(cls, value: str) -> str:
        if value not in THRESHOLD_RULES:
            raise ValueError(
                f"threshold_rule {value!r} is not one of {list(THRESHOLD_RULES)}"
            )
        return value

    @field_validator("scoring")
    @classmethod
    def _known_scorer(cls, value: str) -> str:

        if value not in get_scorer_names():
            raise ValueError(
                f"scoring {value!r} is not a scikit-learn scorer name; use e.g. 'roc_auc', "
                f"'average_precision' or 'neg_log_loss'"
            )
        return value

    @field_validator("n_jobs")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError(
                "n_jobs 0 means no worker at all; use -1 for all cores or a count >= 1"
            )
        return value

    def enabled(self) -> list[str]:
        """The enabled algorithms, in ALGORITHMS order; one not listed counts as enabled."""
        return [name for name in ALGORITHMS if self.enabled_algorithms.get(name, True)]
