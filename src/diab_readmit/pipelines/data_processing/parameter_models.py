"""Typed parameters of the ``data_processing`` pipeline (validated by Kedro before any node runs)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Encounters that ended in death or hospice cannot be followed by a readmission.
DEATH_OR_HOSPICE = [11, 13, 14, 19, 20, 21]


class CohortParams(BaseModel):
    """``cohort``: which encounters the stores keep."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    exclude_discharge_dispositions: list[int] = DEATH_OR_HOSPICE


class EncounterDatesParams(BaseModel):
    """``encounter_dates``: where encounter dates come from.

    The UCI file has no dates. With ``date_column: null`` encounters are spread evenly, in
    encounter_id order, over ``start_date``..``end_date`` (the convention the seed system and
    its benchmark use). Name a column to use real dates instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    date_column: str | None = None
    start_date: dt.date = dt.date(1999, 1, 1)
    end_date: dt.date = dt.date(2008, 12, 31)

    @model_validator(mode="after")
    def _ordered(self) -> EncounterDatesParams:
        if self.start_date > self.end_date:
            raise ValueError(
                f"start_date {self.start_date} is after end_date {self.end_date}; swap them"
            )
        return self


class OrderAuditParams(BaseModel):
    """``order_audit``: how far the order of encounters within a patient can be trusted.

    A patient's encounter that is followed by another of the same patient was, by
    definition, followed by a readmission, so its ``readmitted`` is ``<30`` or ``>30``. A
    non-last encounter labelled ``NO`` contradicts the order. The audit cuts the encounters,
    in the order history is built in, into ``segments`` equal shares and measures that
    contradiction rate in each. A segment is order-unreliable when its rate is above both
    ``max_contradiction_rate`` and ``baseline_multiple`` times the median segment's (a file
    whose labels are a little noisy everywhere is not out of order everywhere), with at least
    ``min_contradictions`` of them, so that two stray rows in a tiny file flag nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    segments: int = Field(default=20, ge=1, le=1000)
    max_contradiction_rate: float = Field(default=0.02, ge=0.0, le=1.0)
    baseline_multiple: float = Field(default=3.0, ge=1.0)
    min_contradictions: int = Field(default=3, ge=1)
