"""Typed ``preprocessing`` parameters (validated by Kedro before any node runs).

``temporal_splits`` and ``training_config`` are shared with the training pipelines and live
in ``diab_readmit.parameter_models``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from diab_readmit.contracts import IDENTITY_COLUMNS, LABEL


class PreprocessingParams(BaseModel):
    """``preprocessing``: what is scaled, what is never a model input, how much data is enough.

    Every numeric gold column that is neither excluded nor the label is a model input; the ones
    listed in ``numeric_features_to_scale`` are standardised, the others (one-hot, ordinal and
    flag encodings) pass through unchanged. ``target_encoded_columns`` (raw codes such as
    diag_1..3) become one model input each: the code's readmission rate in the TRAIN window,
    shrunk towards the overall rate for rare codes (scikit-learn's ``TargetEncoder``), and
    cross-fitted for the train rows themselves so no row sees its own label.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    numeric_features_to_scale: list[str] = Field(min_length=1)
    excluded_columns: list[str] = Field(
        default_factory=lambda: [*IDENTITY_COLUMNS, "diag_1", "diag_2", "diag_3"]
    )
    target_encoded_columns: list[str] = Field(default_factory=list)
    min_partitions: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _consistent_columns(self) -> PreprocessingParams:
        repeated = sorted(
            {
                c
                for c in self.numeric_features_to_scale
                if self.numeric_features_to_scale.count(c) > 1
            }
        )
        if repeated:
            raise ValueError(
                f"numeric_features_to_scale lists {repeated} more than once"
            )
        missing_identity = [
            c for c in IDENTITY_COLUMNS if c not in self.excluded_columns
        ]
        if missing_identity:
            raise ValueError(
                f"excluded_columns must contain the identity columns {missing_identity}: "
                f"identifiers and dates are never model inputs"
            )
        both = sorted(
            set(self.numeric_features_to_scale) & {*self.excluded_columns, LABEL}
        )
        if both:
            raise ValueError(
                f"{both} cannot be scaled: they are excluded from the model inputs "
                f"(excluded_columns or the label {LABEL}); remove them from "
                f"numeric_features_to_scale"
            )
        encoded_elsewhere = sorted(
            set(self.target_encoded_columns)
            & {*self.excluded_columns, *self.numeric_features_to_scale, LABEL}
        )
        if encoded_elsewhere:
            raise ValueError(
                f"target_encoded_columns {encoded_elsewhere} are also in excluded_columns, "
                f"numeric_features_to_scale or the label: a column is either excluded, "
                f"scaled or target-encoded; remove it from one of the lists"
            )
        return self
