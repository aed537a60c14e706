"""Typed parameters of the ``synthetic`` pipeline (validated by Kedro before any node runs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Sizes the generator supports: small enough files for tests, up to 200x the real file.
MIN_ENCOUNTERS = 1_000
MAX_ENCOUNTERS = 20_000_000


class NextMonthDrift(BaseModel):
    """``synthetic.next_month``: the drift planted in the demo's January 2009 extract.

    0 and 0 make a month from the same world as the file (no drift).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Share of the month's encounters moved one age band up (``[60-70)`` -> ``[70-80)``).
    older_share: float = Field(default=0.9, ge=0.0, le=1.0)
    #: Share of the month's encounters admitted through the emergency room (source 7).
    emergency_room_share: float = Field(default=0.6, ge=0.0, le=1.0)


class SyntheticParams(BaseModel):
    """``synthetic``: how many encounters to generate, and from which seed.

    The same ``n_encounters`` and ``seed`` always give the same file, byte for byte.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_encounters: int = 100_000
    seed: int = 42
    #: Reproduce the real file's defect: the last ``scrambled_share`` of encounters (in
    #: admission order) get new, much larger encounter ids in random order, so encounter_id
    #: order stops being admission order there. 0 (default) keeps ids in admission order.
    scrambled_share: float = Field(default=0.0, ge=0.0, le=0.5)
    #: The next month's extract (data/01_raw/new_encounters/) and the drift planted in it.
    next_month: NextMonthDrift = NextMonthDrift()
    #: Larger files are simulated and written in blocks of this many encounters, each a
    #: population of its own after the one before (memory stays that of one block). A file
    #: of at most one block is the same as without blocks.
    block_encounters: int = Field(
        default=2_000_000, ge=MIN_ENCOUNTERS, le=MAX_ENCOUNTERS
    )

    @model_validator(mode="after")
    def _scramble_fits_one_block(self) -> SyntheticParams:
        if self.scrambled_share and self.n_encounters > self.block_encounters:
            raise ValueError(
                f"scrambled_share={self.scrambled_share} needs the whole file in one block, "
                f"but n_encounters={self.n_encounters:,} > block_encounters="
                f"{self.block_encounters:,}; set scrambled_share to 0 or block_encounters "
                f"to at least n_encounters"
            )
        return self

    @field_validator("n_encounters")
    @classmethod
    def _supported_size(cls, value: int) -> int:
        if not MIN_ENCOUNTERS <= value <= MAX_ENCOUNTERS:
            raise ValueError(
                f"n_encounters={value:,} is outside the supported range "
                f"{MIN_ENCOUNTERS:,}..{MAX_ENCOUNTERS:,}; set synthetic.n_encounters in "
                f"conf/base/parameters_synthetic.yml (or pass "
                f"--params synthetic.n_encounters=100000) to a value in that range"
            )
        return value

    @field_validator("seed")
    @classmethod
    def _non_negative_seed(cls, value: int) -> int:
        if value < 0:
            raise ValueError(
                f"seed={value} is negative; set synthetic.seed to an integer >= 0"
            )
        return value
