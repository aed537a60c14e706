"""Gold stores → labelled encounters → train / test / OOT windows → scaled snapshot.

The prerequisite checks that gate these nodes are in ``prerequisites.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler, TargetEncoder

from diab_readmit.contracts import (
    CALENDAR_HISTORY_FEATURES,
    LABEL,
    LABEL_STORE_COLUMNS,
    SNAPSHOT_ROW_COLUMNS,
    WINDOWS,
    PreprocessedSnapshot,
    library_versions,
)
from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import TemporalSplits
from diab_readmit.patient_folds import StratifiedPatientKFold

from .parameter_models import PreprocessingParams

logger = logging.getLogger(__name__)

#: Folds of the target encoder's cross-fit of the train rows.
TARGET_ENCODING_FOLDS = 5
_REBUILD_GOLD = "Rebuild the gold stores with `kedro run --pipelines data_processing`."


class PreprocessingError(UserFixableError, ValueError):
    """The gold data cannot be made into a snapshot; the message says what to change."""


def join_features_and_labels(
    features: pd.DataFrame, labels: pd.DataFrame, prerequisites: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Attach ``readmitted_30d`` to each feature row by ``encounter_id``.

    Encounters present in one store only are counted, logged and reported; they cannot be
    used (a feature row without a label cannot be trained on). An encounter_id appearing
    twice in a store is an error, as the join would multiply its rows.

    Args:
        features: the gold feature store.
        labels: the gold label store.
        prerequisites: output of ``record_prerequisites``; taking it as an input makes Kedro
            load the stores only after every prerequisite check passed.

    Returns:
        The labelled feature rows, and a report of the rows joined and left out.
    """
    _require_columns(features, "feature_store", ["encounter_id", "partition_date"])
    _require_columns(labels, "label_store", list(LABEL_STORE_COLUMNS))
    _refuse_duplicates(features, "feature_store")
    _refuse_duplicates(labels, "label_store")

    label_by_encounter = labels.set_index("encounter_id")
    has_label = features["encounter_id"].isin(label_by_encounter.index).to_numpy()
    has_features = labels["encounter_id"].isin(features["encounter_id"]).to_numpy()
    features_without_label = int((~has_label).sum())
    labels_without_features = int((~has_features).sum())
    if features_without_label:
        logger.warning(
            "%d of %d feature_store encounters have no label in label_store and are left "
            "out (e.g. encounter_id %s)",
            features_without_label,
            len(features),
            features.loc[~has_label, "encounter_id"].head(3).tolist(),
        )
    if labels_without_features:
        logger.warning(
            "%d of %d label_store encounters have no row in feature_store and are left out "
            "(e.g. encounter_id %s)",
            labels_without_features,
            len(labels),
            labels.loc[~has_features, "encounter_id"].head(3).tolist(),
        )

    # Copy-on-write: without unmatched rows, adding the label column copies nothing else
    # (concat, not assign: gold frames may come in one block per column).
    joined = features[has_label] if features_without_label else features
    matched = label_by_encounter.loc[joined["encounter_id"].to_numpy()]
    if joined.empty:
        raise PreprocessingError(
            f"No encounter of the feature_store ({len(features)} rows) has a label in the "
            f"label_store ({len(labels)} rows): the stores come from different data. "
            + _REBUILD_GOLD
        )
    _refuse_partition_mismatch(joined, matched)
    _refuse_non_binary_labels(matched[LABEL])
    label = pd.Series(
        matched[LABEL].to_numpy(dtype=np.int8),
        index=joined.index,
        name=LABEL,
    )
    joined = pd.concat([joined, label], axis=1)

    logger.info("Joined %d labelled encounters", len(joined))
    report = {
        "sources": prerequisites["sources"],
        "feature_rows": len(features),
        "label_rows": len(labels),
        "joined_rows": len(joined),
        "features_without_label": features_without_label,
        "labels_without_features": labels_without_features,
    }
    return joined.reset_index(drop=True), report


def split_temporal_windows(
    labelled: pd.DataFrame, temporal_splits: TemporalSplits
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Split labelled encounters by ``partition_date`` into the train, test and OOT windows.

    Both ends of each window are inclusive. Rows outside every window are dropped and counted
    by where they fall (before train, in a gap between windows, after OOT).

    Raises:
        PreprocessingError: a window has no rows, or no positive label, naming the window,
            its dates and the dates the data covers.
    """
    partition = labelled["partition_date"]
    covered = f"{partition.min():%Y-%m-%d} .. {partition.max():%Y-%m-%d}"
    windows = temporal_splits.windows()
    masks = {
        name: partition.between(
            pd.Timestamp(w.start_date), pd.Timestamp(w.end_date)
        ).to_numpy()
        for name, w in windows.items()
    }
    frames, summary = {}, {}
    for name, window in windows.items():
        rows = _select(labelled, masks[name])
        where = (
            f"temporal window '{name}' ({window.start_date} .. {window.end_date}; "
            f"temporal_splits.{name})"
        )
        if rows.empty:
            raise PreprocessingError(
                f"The {where} has no rows: the gold data covers partitions {covered}. Move the "
                f"window into that range (e.g. --params temporal_splits.{name}.start_date=...) "
                f"or process data for that period with `kedro run --pipelines data_processing`."
            )
        positives = int(rows[LABEL].sum())
        if positives == 0:
            raise PreprocessingError(
                f"The {where} has {len(rows)} rows but no positive {LABEL}: a model "
                f"cannot be fitted or evaluated on it. Widen the window in "
                f"conf/base/parameters_preprocessing.yml or with --params."
            )
        frames[name] = rows
        summary[name] = {
            "start_date": window.start_date.isoformat(),
            "end_date": window.end_date.isoformat(),
            "rows": len(rows),
            "positives": positives,
            "readmission_rate": positives / len(rows),
            "partitions": int(rows["partition_date"].nunique()),
        }
        logger.info(
            "Window %s %s..%s: %d rows, %.2f%% readmitted within 30 days",
            name,
            window.start_date,
            window.end_date,
            len(rows),
            100 * positives / len(rows),
        )

    outside = ~np.logical_or.reduce([masks[name] for name in WINDOWS])
    before = (
        outside
        & (partition < pd.Timestamp(temporal_splits.train.start_date)).to_numpy()
    )
    after = (
        outside & (partition > pd.Timestamp(temporal_splits.oot.end_date)).to_numpy()
    )
    dropped = {
        "before_train_window": {
            "rows": int(before.sum()),
            "why": "partition_date before temporal_splits.train.start_date",
        },
        "between_windows": {
            "rows": int((outside & ~before & ~after).sum()),
            "why": "partition_date in a gap between two temporal windows",
        },
        "after_oot_window": {
            "rows": int(after.sum()),
            "why": "partition_date after temporal_splits.oot.end_date",
        },
    }
    if outside.any():
        logger.warning(
            "%d labelled encounters fall outside every window and are left out: %s",
            int(outside.sum()),
            {k: v["rows"] for k, v in dropped.items()},
        )
    report = {
        "windows": summary,
        "rows_outside_windows": dropped,
        "data_partitions": covered,
    }
    train, test, oot = (frames[name] for name in WINDOWS)
    return train, test, oot, report


def fit_scaler(
    train: pd.DataFrame, preprocessing: PreprocessingParams
) -> ColumnTransformer:
    """Fit the model-input transformer on the train window only.

    StandardScaler on ``preprocessing.numeric_features_to_scale``; every other numeric column
    that is neither excluded nor the label passes through; identifiers and raw codes are
    dropped. The transformer takes gold feature rows (extra columns are ignored) and returns
    a float32 DataFrame: the scaled columns in configured order, then the passthrough
    columns in gold order.
    """
    inputs = model_input_columns(train, preprocessing)
    # Calendar-gap history features exist only with real encounter dates.
    scaled = [
        c
        for c in preprocessing.numeric_features_to_scale
        if c in inputs or c not in CALENDAR_HISTORY_FEATURES
    ]
    unknown = [c for c in scaled if c not in inputs]
    if unknown:
        raise PreprocessingError(
            f"preprocessing.numeric_features_to_scale lists {unknown}, which are not numeric "
            f"columns of the feature_store. Remove them from "
            f"conf/base/parameters_preprocessing.yml, or rebuild the store if they should be "
            f"there. " + _REBUILD_GOLD
        )
    passthrough = [c for c in inputs if c not in set(scaled)]
    coded = list(preprocessing.target_encoded_columns)
    _require_columns(train, "feature_store", coded)
    branches = [("scaled", StandardScaler(), scaled)]
    if coded:
        branches.append(("target_encoded", _target_encoder(), coded))
    branches.append(("encoded", "passthrough", passthrough))
    transformer = ColumnTransformer(
        branches, remainder="drop", verbose_feature_names_out=False
    ).set_output(transform="pandas")
    model_inputs = pd.concat([train[inputs].astype(np.float32), train[coded]], axis=1)
    transformer.fit(model_inputs, train[LABEL].to_numpy() if coded else None)
    logger.info(
        "Fitted the scaler on %d train rows: %d scaled + %d target-encoded + %d "
        "passthrough columns",
        len(train),
        len(scaled),
        len(coded),
        len(passthrough),
    )
    return transformer


def _target_encoder() -> SklearnPipeline:
    """Readmission rate per code, shrunk for rare codes (scikit-learn's TargetEncoder).

    Its own cross-fit (used only inside ``fit``) is seeded; the train rows' values in the
    snapshot come from ``_cross_fitted_train``. A missing code (None, NaN or pd.NA, however
    the rows arrive) is the code ``?``, as in the raw file, so the registered model encodes
    it the same way it was trained.
    """
    folds = StratifiedKFold(
        n_splits=TARGET_ENCODING_FOLDS, shuffle=True, random_state=0
    )
    return SklearnPipeline(
        [
            (
                "missing_as_code",
                SimpleImputer(
                    missing_values=pd.NA, strategy="constant", fill_value="?"
                ),
            ),
            ("readmission_rate", TargetEncoder(target_type="binary", cv=folds)),
            # float32 like every other model input (np.float32 pickles as numpy's own type).
            (
                "as_float32",
                FunctionTransformer(np.float32, feature_names_out="one-to-one"),
            ),
        ]
    )


def _target_encoded_columns(scaler: ColumnTransformer) -> list[str]:
    return next(
        (
            list(columns)
            for name, _, columns in scaler.transformers
            if name == "target_encoded"
        ),
        [],
    )


def _cross_fitted_train(
    scaler: ColumnTransformer, train: pd.DataFrame
) -> pd.DataFrame | None:
    """The train rows' target encodings, each learnt without the row's own patient.

    ``scaler.transform`` would encode a train row with a rate that includes its own label,
    so a model would learn to trust the encoding more than it deserves. Each patient-grouped
    fold (``StratifiedPatientKFold``) is encoded by the same encoder fitted on the other
    folds: a patient's other encounters, whose outcomes go with this one's, never inform it
    either (TargetEncoder's own cross-fit splits rows, not patients).
    """
    coded = _target_encoded_columns(scaler)
    if not coded:
        return None
    codes, y = train[coded], train[LABEL].to_numpy()
    values = np.empty((len(train), len(coded)), dtype=np.float32)
    folds = StratifiedPatientKFold(n_splits=TARGET_ENCODING_FOLDS, random_state=0)
    for others, fold in folds.split(codes, y, train["patient_nbr"].to_numpy()):
        encoder = clone(scaler.named_transformers_["target_encoded"]).fit(
            codes.iloc[others], y[others]
        )
        values[fold] = np.asarray(encoder.transform(codes.iloc[fold]), dtype=np.float32)
    return pd.DataFrame(values, columns=coded)


def model_input_columns(
    features: pd.DataFrame, preprocessing: PreprocessingParams
) -> list[str]:
    """Every gold column except ``preprocessing.excluded_columns`` and the label, in gold order.

    Raises:
        PreprocessingError: a remaining column is not numeric (the gold contract says every
            model input is), naming it.
    """
    excluded = {
        *preprocessing.excluded_columns,
        *preprocessing.target_encoded_columns,
        LABEL,
    }
    inputs = [c for c in features.columns if c not in excluded]
    not_numeric = [
        f"{c} ({features[c].dtype})"
        for c in inputs
        if not is_numeric_dtype(features[c])
    ]
    if not_numeric:
        raise PreprocessingError(
            f"feature_store columns {not_numeric} are not numeric, so they cannot be model "
            f"inputs. Add them to preprocessing.excluded_columns in "
            f"conf/base/parameters_preprocessing.yml if they are identifiers or raw codes; "
            f"otherwise encode them in data_processing. " + _REBUILD_GOLD
        )
    return inputs


def scale_windows(
    scaler: ColumnTransformer,
    train: pd.DataFrame,
    test: pd.DataFrame,
    oot: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply the fitted scaler to each window.

    Returns:
        Per window: ``encounter_id``, ``patient_nbr`` (groups CV folds; never a model input),
        ``partition_date``, ``readmitted_30d``, then the float32 model-input columns in the
        scaler's output order. The train window's target encodings are cross-fitted.

    Raises:
        PreprocessingError: a model input is missing or infinite in some window (the gold
            contract forbids it), naming the columns and the window.
    """
    scaled = [
        _scaled_window(scaler, rows, name)
        for name, rows in zip(WINDOWS, (train, test, oot), strict=True)
    ]
    cross_fitted = _cross_fitted_train(scaler, train)
    if cross_fitted is not None:
        for column in cross_fitted.columns:
            scaled[0][column] = cross_fitted[column].to_numpy()
    return tuple(scaled)


def assemble_snapshot(
    train: pd.DataFrame,
    test: pd.DataFrame,
    oot: pd.DataFrame,
    scaler: ColumnTransformer,
    prerequisites: dict[str, Any],
    join_report: dict[str, Any],
    split_report: dict[str, Any],
) -> PreprocessedSnapshot:
    """Bundle the scaled windows, the scaler and their metadata for ``preprocessed_snapshot``.

    The dataset adds the snapshot id, the creation time and the sha256 of each file.
    """
    windows = dict(zip(WINDOWS, (train, test, oot), strict=True))
    feature_columns = [str(c) for c in scaler.get_feature_names_out()]
    columns_of = {
        "target_encoded": [],
        **{name: list(columns) for name, _, columns in scaler.transformers},
    }
    metadata = {
        "temporal_splits": prerequisites["temporal_splits"],
        "windows": split_report["windows"],
        "shapes": {
            name: [len(frame), len(feature_columns)] for name, frame in windows.items()
        },
        "readmission_rate": {
            name: split_report["windows"][name]["readmission_rate"] for name in WINDOWS
        },
        "label_column": LABEL,
        "feature_columns": feature_columns,
        "scaled_columns": columns_of["scaled"],
        "passthrough_columns": columns_of["encoded"],
        "target_encoded_columns": columns_of["target_encoded"],
        "id_columns": list(SNAPSHOT_ROW_COLUMNS),
        "source": {
            **prerequisites["sources"],
            "data_partitions": split_report["data_partitions"],
        },
        # The Delta versions read: the exact gold data, readable again by time travel.
        "gold_tables": {
            name: {"path": source["path"], "version": source.get("version")}
            for name, source in prerequisites["sources"].items()
        },
        "rows": {
            "feature_store": join_report["feature_rows"],
            "label_store": join_report["label_rows"],
            "labelled": join_report["joined_rows"],
            "in_windows": sum(len(frame) for frame in windows.values()),
        },
        "rows_dropped": {
            "features_without_label": {
                "rows": join_report["features_without_label"],
                "why": "encounter_id in feature_store but not in label_store",
            },
            "labels_without_features": {
                "rows": join_report["labels_without_features"],
                "why": "encounter_id in label_store but not in feature_store",
            },
            **split_report["rows_outside_windows"],
        },
        "enabled_algorithms": prerequisites["enabled_algorithms"],
        "library_versions": library_versions(),
    }
    return PreprocessedSnapshot(**windows, scaler=scaler, metadata=metadata)


def _select(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``mask``; a view when they are contiguous, as windows of the partition-ordered
    gold stores are, so a million-row window costs no copy."""
    positions = np.flatnonzero(mask)
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return frame.iloc[positions[0] : positions[-1] + 1].reset_index(drop=True)
    return frame[mask].reset_index(drop=True)


def _scaled_window(
    scaler: ColumnTransformer, rows: pd.DataFrame, window: str
) -> pd.DataFrame:
    matrix = scaler.transform(rows).astype(np.float32).reset_index(drop=True)
    # Column by column: a whole-matrix check would copy the window once more.
    bad = [c for c in matrix.columns if not np.isfinite(matrix[c].to_numpy()).all()]
    if bad:
        raise PreprocessingError(
            f"Model inputs {bad[:10]} have missing or infinite values in the '{window}' window; "
            f"the gold feature store must encode missing values, never leave NaN. "
            + _REBUILD_GOLD
        )
    return pd.concat(
        [rows[list(SNAPSHOT_ROW_COLUMNS)].reset_index(drop=True), matrix], axis=1
    )


def _require_columns(frame: pd.DataFrame, dataset: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PreprocessingError(
            f"{dataset} has no column(s) {missing}. " + _REBUILD_GOLD
        )


def _refuse_duplicates(frame: pd.DataFrame, dataset: str) -> None:
    repeated = frame["encounter_id"].duplicated(keep=False).to_numpy()
    if repeated.any():
        ids = frame.loc[repeated, "encounter_id"]
        raise PreprocessingError(
            f"{dataset} has {int(repeated.sum())} rows sharing {ids.nunique()} encounter_id "
            f"value(s) (e.g. {ids.drop_duplicates().head(3).tolist()}): joining features and "
            f"labels would multiply these encounters. Each encounter must appear once. "
            + _REBUILD_GOLD
        )


def _refuse_partition_mismatch(joined: pd.DataFrame, matched: pd.DataFrame) -> None:
    differs = (
        joined["partition_date"].to_numpy() != matched["partition_date"].to_numpy()
    )
    if differs.any():
        examples = joined.loc[differs, "encounter_id"].head(3).tolist()
        raise PreprocessingError(
            f"{int(differs.sum())} encounters have a different partition_date in feature_store "
            f"and label_store (e.g. encounter_id {examples}): the stores were built from "
            f"different runs. " + _REBUILD_GOLD
        )


def _refuse_non_binary_labels(label: pd.Series) -> None:
    invalid = ~label.isin([0, 1]).to_numpy()
    if invalid.any():
        raise PreprocessingError(
            f"label_store column {LABEL} has {int(invalid.sum())} value(s) other than "
            f"0/1 (e.g. {label[invalid].head(3).tolist()}). " + _REBUILD_GOLD
        )
