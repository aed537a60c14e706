"""Contracts between the stages: the names and shapes more than one pipeline relies on.

Columns of the gold stores and the snapshot windows, the windows themselves, what
preprocessing hands to training (``PreprocessedSnapshot``) and what each algorithm's registry
hands to reporting (``RegistryHistory``). docs/architecture.md describes them for people.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypedDict

import pandas as pd

from diab_readmit.datasets.parquet_window import ParquetWindow

#: The label: 1 when the encounter was followed by a readmission within 30 days (``<30``).
LABEL = "readmitted_30d"

#: Columns that identify an encounter or place it in time: never model inputs, whatever the
#: configuration says. ``partition_date`` is the first day of the encounter's month, the
#: gold stores' partition.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "encounter_id",
    "patient_nbr",
    "encounter_date",
    "partition_date",
)
#: Never a model input: the identity columns and the label.
NOT_MODEL_INPUTS = frozenset({*IDENTITY_COLUMNS, LABEL})
#: The gold label store's columns.
LABEL_STORE_COLUMNS: tuple[str, ...] = ("encounter_id", "partition_date", LABEL)
#: Carried into each snapshot window next to the model inputs, to trace rows back to gold
#: (``patient_nbr`` also groups the cross-validation folds by patient).
SNAPSHOT_ROW_COLUMNS: tuple[str, ...] = (
    "encounter_id",
    "patient_nbr",
    "partition_date",
    LABEL,
)

#: The temporal windows, in time order: fit on train, choose the threshold on test, and only
#: report OOT (out of time).
WINDOWS: tuple[str, ...] = ("train", "test", "oot")
#: The windows a registered model is scored and reported on.
EVALUATION_WINDOWS: tuple[str, ...] = ("test", "oot")

#: History features that exist only when encounter dates are real dates (a date column):
#: encounter ranks spread over a date range are not days. With synthesized dates the gold
#: store leaves them out, and preprocessing does not ask for them.
CALENDAR_HISTORY_FEATURES = ("hist_days_since_last", "hist_prior_encounters_365d")

#: Distributions whose versions are recorded with every snapshot and registered model.
_RECORDED_LIBRARIES = (
    "kedro",
    "scikit-learn",
    "xgboost",
    "pandas",
    "numpy",
    "pyarrow",
)


def library_versions() -> dict[str, str]:
    """Python and the versions of the libraries a snapshot or a model depends on."""
    versions = {"python": platform.python_version()}
    for name in _RECORDED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class PreprocessedSnapshot:
    """What preprocessing hands to every training pipeline (``preprocessed_snapshot``).

    Each window holds ``SNAPSHOT_ROW_COLUMNS`` and the model inputs, scaled, in the order of
    ``metadata["feature_columns"]``. ``scaler`` is the fitted scikit-learn transformer that
    turns gold feature rows into those model inputs. ``metadata`` is the JSON document saved
    as metadata.json (windows, rows, sources, ``library_versions``, ...).
    ``snapshot_id`` is set by the dataset: None until the snapshot is saved.

    A loaded window of ``lazy_min_rows`` rows or more is a ``ParquetWindow`` (read from its
    file as needed) rather than a DataFrame; ``datasets.parquet_window`` reads either form.
    """

    train: pd.DataFrame | ParquetWindow
    test: pd.DataFrame | ParquetWindow
    oot: pd.DataFrame | ParquetWindow
    scaler: Any
    metadata: dict[str, Any]
    snapshot_id: str | None = None

    def __post_init__(self) -> None:
        not_frames = [
            w
            for w in WINDOWS
            if not isinstance(self.window(w), pd.DataFrame | ParquetWindow)
        ]
        if not_frames or not isinstance(self.metadata, dict):
            raise TypeError(
                f"PreprocessedSnapshot: {not_frames or ['metadata']} must be DataFrames or "
                f"ParquetWindows (windows) and a dict (metadata)."
            )

    def window(self, name: str) -> pd.DataFrame | ParquetWindow:
        """The rows of window ``name`` (one of ``WINDOWS``)."""
        return getattr(self, name)

    def windows(self) -> dict[str, pd.DataFrame | ParquetWindow]:
        return {name: self.window(name) for name in WINDOWS}

    @property
    def shown_id(self) -> str:
        """``snapshot_id`` for messages; ``?`` before the snapshot is saved."""
        return self.snapshot_id or "?"


#: The fields a saved snapshot is made of (everything but the id the dataset assigns).
SNAPSHOT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(PreprocessedSnapshot) if f.name != "snapshot_id"
)


class RegistryHistory(TypedDict):
    """What one algorithm's ``model_registry@history`` hands to reporting (no model unpickled).

    A dict, so reporting tables and notebooks read it as they read JSON.
    """

    #: The algorithm (the registry folder's name).
    algorithm: str
    #: metadata.json of the champion (what latest/ holds); None when there is none.
    latest: dict[str, Any] | None
    #: The champion's version id; None when no version passed the gate or was promoted.
    champion: str | None
    #: metadata.json of the newest registered version (champion or not); None when empty.
    newest: dict[str, Any] | None
    #: versions.json entries, oldest first: id, created_at, test/oot ROC-AUC, snapshot_id,
    #: status (champion | retired | rejected | candidate), gate, promotions, ...
    versions: list[dict[str, Any]]
    #: Promotions by hand, oldest first: promotion_id, version_id, promoted_by/at, reason.
    promotions: list[dict[str, Any]]
    #: The champion's evaluation plots: file name -> PNG bytes.
    plots: dict[str, bytes]
    #: The champion's model_card.md (None when there is no champion, or it was
    #: registered before model cards existed).
    model_card: str | None
