"""Typed parameters of the ``inference`` pipeline (validated by Kedro before any node runs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskTiers(BaseModel):
    """``inference.risk_tiers``: low below ``medium_from``, high from ``high_from``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    medium_from: float = Field(default=0.10, gt=0.0, lt=1.0)
    high_from: float = Field(default=0.25, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> RiskTiers:
        if self.medium_from >= self.high_from:
            raise ValueError(
                f"medium_from {self.medium_from} must be below high_from {self.high_from}"
            )
        return self


class InferenceParams(BaseModel):
    """``inference``: which champion scores, whether to rescore, how risks are tiered.

    ``algorithm: null`` picks the champion with the best TEST ROC-AUC across algorithms.
    ``rescore: true`` scores again extracts already scored by the same model version.
    ``reasons``: how many top reasons each prediction carries (0: none, the fastest).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    algorithm: str | None = None
    rescore: bool = False
    reasons: int = Field(default=3, ge=0, le=10)
    risk_tiers: RiskTiers = Field(default_factory=RiskTiers)
