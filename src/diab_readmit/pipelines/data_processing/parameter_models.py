"""Typed parameters of the ``data_processing`` pipeline (validated by Kedro before any node runs)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, model_validator

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
