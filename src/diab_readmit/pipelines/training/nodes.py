"""Nodes of the training template: search, score, threshold, evaluate, plot, package.

Every node serves every algorithm: which estimator is fitted comes from ``params:estimator``
(``name`` picks it), never from the namespace or from copies of this code. The windows have
fixed roles: the search sees only the TRAIN window (cross-validation), the decision threshold
only the TEST window's scores, and the OOT window is scored and reported, never used to
choose anything (``choose_decision_threshold`` does not even receive it).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline as SklearnPipeline

from diab_readmit import feature_dictionary
from diab_readmit.contracts import (
    EVALUATION_WINDOWS,
    LABEL,
    NOT_MODEL_INPUTS,
    PreprocessedSnapshot,
    library_versions,
)
from diab_readmit.datasets.parquet_window import Window, column_values
from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import TrainingConfig

from . import evaluation, figures, xgboost_fits
from .calibration import calibrate, calibration_split
from .estimators import (
    EstimatorSettings,
    build_estimator,
    check_params,
    fit_final,
    parameter_prefix,
)
from .model_matrix import model_inputs, model_matrix, window_risks
from .search import SearchSettings, fit_search, make_search, search_rows
from .trust_nodes import population

logger = logging.getLogger(__name__)


class SnapshotContractError(UserFixableError, ValueError):
    """The preprocessed snapshot does not look like the preprocessing pipeline's output."""


def _feature_columns(snapshot: PreprocessedSnapshot) -> list[str]:
    """``metadata["feature_columns"]``, checked against every window and the identity columns."""
    try:
        features = list(snapshot.metadata["feature_columns"])
    except (KeyError, TypeError) as exc:
        raise SnapshotContractError(
            f"preprocessed_snapshot {snapshot.shown_id} has no "
            f"metadata['feature_columns'] ({exc!r}); re-create it with "
            f"`kedro run --pipelines preprocessing`."
        ) from exc
    forbidden = sorted(NOT_MODEL_INPUTS.intersection(features))
    if forbidden:
        raise SnapshotContractError(
            f"preprocessed_snapshot {snapshot.shown_id} lists {forbidden} as "
            f"feature columns: identifiers, dates and the label are never model inputs. Fix "
            f"preprocessing.excluded_columns and re-run `kedro run --pipelines preprocessing`."
        )
    for window, rows in snapshot.windows().items():
        missing = [c for c in (*features, LABEL) if c not in rows.columns]
        if missing:
            raise SnapshotContractError(
                f"preprocessed_snapshot {snapshot.shown_id}: the {window} window "
                f"lacks columns {missing[:10]}{'...' if len(missing) > 10 else ''}; re-create "
                f"the snapshot with `kedro run --pipelines preprocessing`."
            )
    return features


def tune_hyperparameters(
    preprocessed_snapshot: PreprocessedSnapshot,
    training_config: TrainingConfig,
    estimator: EstimatorSettings,
    search: SearchSettings,
) -> dict[str, Any]:
    """Search hyperparameters by cross-validation on the TRAIN window, then refit the best.

    Returns:
        ``classifier`` (the best configuration refitted on the train window minus the
        calibration holdout, calibrated on that holdout), ``calibration``,
        ``best_params``, ``cv_score``, ``training_data`` (where the final fit read its
        rows: ``in_memory``, ``external_memory`` or ``dask``, see xgboost_fits), the search
        description (``search``: method, candidates, folds, stages with their best scores
        and seconds), ``feature_columns``,
        ``train_positive_rate`` and ``training_seconds`` (search + refit).
    """
    started = time.perf_counter()
    features = _feature_columns(preprocessed_snapshot)
    train = preprocessed_snapshot.train
    y = column_values(train, LABEL).astype(np.int8)
    if len(np.unique(y)) < 2:
        raise SnapshotContractError(
            f"The train window of snapshot {preprocessed_snapshot.shown_id} has "
            f"only one class ({np.unique(y).tolist()}): nothing to learn. Widen "
            f"temporal_splits.train or check the label store."
        )
    base = build_estimator(estimator, y, seed=training_config.seed)
    check_params(
        estimator.name, base, search.space, where=f"{estimator.name}.search.space"
    )
    prefix = parameter_prefix(base)
    n_candidates = search.n_candidates or training_config.n_candidates
    searcher = make_search(
        base,
        search,
        n_candidates=n_candidates,
        cv_folds=training_config.cv_folds,
        scoring=training_config.scoring,
        n_jobs=training_config.n_jobs,
        seed=training_config.seed,
        label=estimator.name,
        prefix=prefix,
    )
    groups = _patient_groups(train, preprocessed_snapshot.shown_id)
    rows = search_rows(y, search, training_config.seed)
    X = model_matrix(train, features, rows)
    fit_search(searcher, X, y[rows], groups[rows])
    del X
    search_seconds = time.perf_counter() - started

    best_params = {
        key.removeprefix(prefix): value
        for key, value in _plain(searcher.best_params_).items()
    }
    chosen = base.set_params(
        **{prefix + key: value for key, value in best_params.items()}
    )
    # The final fit sees the train window minus the calibration holdout (by default its most
    # recent encounters); the calibrator, and XGBoost's early stopping, see only the holdout.
    # DataFrames over one float32 matrix each: estimators read them without another copy,
    # and the fitted model records the feature names.
    settings = training_config.calibration
    order = (
        column_values(train, "partition_date")
        if "partition_date" in train
        else np.arange(len(train))
    )
    fit_rows, calibration_rows = calibration_split(
        y, groups, order, settings, training_config.seed
    )
    holdout = model_inputs(train, features, calibration_rows)
    eval_set = (holdout, y[calibration_rows]) if len(calibration_rows) else None
    where = xgboost_fits.training_data(estimator, chosen, len(fit_rows))
    if where == "in_memory":
        frame = model_inputs(train, features, fit_rows)
        fitted = fit_final(
            estimator.name, chosen, frame, y[fit_rows], training_config.n_jobs, eval_set
        )
        del frame
        training_data = {"kind": where, "rows": int(len(fit_rows))}
    else:
        fitted, training_data = xgboost_fits.fit_past_memory(
            where,
            chosen,
            estimator,
            train,
            features,
            fit_rows,
            y[fit_rows],
            eval_set,
            training_config.n_jobs,
        )
    classifier = calibrate(fitted, holdout, y[calibration_rows], settings)
    del holdout
    training_seconds = time.perf_counter() - started
    logger.info(
        "%s: best CV %s %.4f with %s; refit on %d train rows, %s calibration on %d held-out "
        "rows; %.1f s search + %.1f s refit",
        estimator.name,
        training_config.scoring,
        searcher.best_score_,
        best_params,
        len(fit_rows),
        settings.method,
        len(calibration_rows),
        search_seconds,
        training_seconds - search_seconds,
    )
    return {
        "classifier": classifier,
        "best_params": best_params,
        "cv_score": float(searcher.best_score_),
        "search": {
            "method": search.method,
            "n_candidates": n_candidates,
            "rows": int(len(rows)),
            "cv_folds": training_config.cv_folds,
            "scoring": training_config.scoring,
            "stages": searcher.stages_,
            "seconds": round(search_seconds, 2),
        },
        "feature_columns": features,
        "train_positive_rate": float(np.mean(y)),
        "calibration": {
            "method": settings.method,
            "holdout": settings.holdout,
            "holdout_fraction": settings.holdout_fraction
            if len(calibration_rows)
            else 0.0,
            "fit_rows": int(len(fit_rows)),
            "calibration_rows": int(len(calibration_rows)),
            "window": "train",
        },
        "training_data": training_data,
        "training_seconds": round(training_seconds, 2),
    }


def _patient_groups(train: Window, snapshot_id: str) -> np.ndarray:
    """patient_nbr of each train row: CV folds and the calibration holdout keep patients whole."""
    if "patient_nbr" not in train.columns:
        raise SnapshotContractError(
            f"The train window of snapshot {snapshot_id} has no patient_nbr column, so folds "
            f"cannot be grouped by patient. It was made by an older version of the project: "
            f"re-create it with `kedro run --pipelines preprocessing`."
        )
    return column_values(train, "patient_nbr").astype(np.int64)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars from the search space as plain Python values, for JSON and set_params."""
    return {
        key: value.item() if isinstance(value, np.generic) else value
        for key, value in params.items()
    }


def score_evaluation_windows(
    tuned_model: dict[str, Any], preprocessed_snapshot: PreprocessedSnapshot
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Predicted readmission probabilities of the TEST and the OOT window.

    Returned separately so the threshold node can take the test scores alone. A lazy
    window is scored batch by batch (``model_matrix.window_risks``).
    """
    classifier, features = tuned_model["classifier"], tuned_model["feature_columns"]
    scored = []
    for window in EVALUATION_WINDOWS:
        rows = preprocessed_snapshot.window(window)
        if rows.empty:
            raise SnapshotContractError(
                f"The {window} window of snapshot {preprocessed_snapshot.shown_id} "
                f"is empty: check temporal_splits.{window} against the data's dates."
            )
        scored.append(
            {
                "y_true": column_values(rows, LABEL).astype(np.int8),
                "y_score": window_risks(classifier, rows, features),
            }
        )
    return scored[0], scored[1]


def choose_decision_threshold(
    test_scores: dict[str, np.ndarray], training_config: TrainingConfig
) -> dict[str, Any]:
    """The decision threshold, chosen on the TEST window by ``training_config.threshold_rule``.

    ``max_f1`` (default) maximises F1; ``max_youden`` maximises sensitivity + specificity - 1;
    ``fixed`` takes ``training_config.fixed_threshold``.
    """
    rule = training_config.threshold_rule
    y_true, y_score = test_scores["y_true"], test_scores["y_score"]
    if rule == "fixed":
        threshold, value = training_config.fixed_threshold, None
    elif len(np.unique(y_true)) < 2:
        raise SnapshotContractError(
            f"The test window has only one class, so threshold_rule {rule!r} cannot choose a "
            f"threshold. Widen temporal_splits.test or set threshold_rule: fixed."
        )
    elif rule == "max_youden":
        threshold, value = evaluation.max_youden_threshold(y_true, y_score)
    else:
        threshold, value = evaluation.max_f1_threshold(y_true, y_score)
    logger.info("Decision threshold %.4f (%s on the test window)", threshold, rule)
    return {
        "threshold": float(threshold),
        "rule": rule,
        "window": "test",
        "criterion_value": value,
    }


def evaluate_windows(
    test_scores: dict[str, np.ndarray],
    oot_scores: dict[str, np.ndarray],
    decision_threshold: dict[str, Any],
) -> dict[str, dict[str, float]]:
    """Accuracy, precision, recall, F1 (at the threshold), ROC-AUC, PR-AUC, Brier; test and OOT."""
    threshold = decision_threshold["threshold"]
    performance = {}
    for window, scores in zip(
        EVALUATION_WINDOWS, (test_scores, oot_scores), strict=True
    ):
        performance[window] = {
            **evaluation.window_metrics(scores["y_true"], scores["y_score"], threshold),
            **evaluation.window_summary(scores["y_true"]),
        }
        logger.info(
            "%s: ROC-AUC %.4f, PR-AUC %.4f, F1 %.4f, recall %.4f, Brier %.4f",
            window,
            performance[window]["auc_roc"],
            performance[window]["pr_auc"],
            performance[window]["f1"],
            performance[window]["recall"],
            performance[window]["brier"],
        )
    return performance


def draw_evaluation_plots(
    test_scores: dict[str, np.ndarray],
    oot_scores: dict[str, np.ndarray],
    decision_threshold: dict[str, Any],
    explanations: dict[str, Any],
    estimator: EstimatorSettings,
) -> dict[str, Figure]:
    """ROC and precision-recall curves, calibration, confusion matrices, and mean
    |contribution| per feature on the test window (``importances.png``; impurity
    importances favour high-cardinality features).

    Keys are file names, as the plots are saved under ``<paths.reporting>/<algorithm>/`` and in
    the registered version's ``plots/`` folder.
    """
    scores = dict(zip(EVALUATION_WINDOWS, (test_scores, oot_scores), strict=True))
    title = estimator.name.replace("_", " ")
    importances = _mean_abs_contribution(explanations)
    return {
        "roc_curves.png": figures.roc_curves(scores, title),
        "precision_recall_curves.png": figures.precision_recall_curves(scores, title),
        "calibration.png": figures.calibration(scores, title),
        "confusion_matrices.png": figures.confusion_matrices(
            scores, decision_threshold["threshold"], title
        ),
        "importances.png": figures.importances(importances, title),
    }


def _mean_abs_contribution(explanations: dict[str, Any]) -> pd.Series:
    """The global view of ``explain_evaluation_windows``, labelled by the feature dictionary."""
    values = explanations["mean_abs_contribution"]["values"]
    return pd.Series(
        list(values.values()),
        index=[feature_dictionary.label(name) for name in values],
        name=f"mean |contribution| ({explanations['unit']}), test window",
    )


def package_model(
    tuned_model: dict[str, Any],
    preprocessed_snapshot: PreprocessedSnapshot,
    decision_threshold: dict[str, Any],
    evaluation_metrics: dict[str, dict[str, float]],
    evaluation_plots: dict[str, Figure],
    explanations: dict[str, Any],
    trust_assessment: dict[str, Any],
    training_config: TrainingConfig,
    estimator: EstimatorSettings,
    search: SearchSettings,
) -> dict[str, Any]:
    """The registry bundle: the model that scores gold rows, its metadata, its plots.

    ``explanations`` and ``trust_assessment`` (trust_nodes) go into the metadata as they
    are, with what the snapshot says about the population; the registry writes the model
    card from that metadata.

    The model is ``Pipeline([("preprocess", snapshot scaler), ("classifier", classifier)])``,
    so a batch-scoring step needs nothing else. The registry adds the version id, creation
    time and the sha256 of model.pkl to the metadata.
    """
    scaler = preprocessed_snapshot.scaler
    features = tuned_model["feature_columns"]
    _check_scaler_output(scaler, features, preprocessed_snapshot.shown_id)
    model = SklearnPipeline(
        [("preprocess", scaler), ("classifier", tuned_model["classifier"])]
    )
    snapshot_metadata = preprocessed_snapshot.metadata
    importances = _mean_abs_contribution(explanations).set_axis(
        list(explanations["mean_abs_contribution"]["values"])
    )
    metadata = {
        "model_name": estimator.name,
        "training_date": datetime.now(UTC).isoformat(timespec="seconds"),
        "temporal_splits": snapshot_metadata.get("temporal_splits")
        or _observed_windows(preprocessed_snapshot),
        "feature_count": len(features),
        "training_samples": len(preprocessed_snapshot.train),
        "test_samples": len(preprocessed_snapshot.test),
        "oot_samples": len(preprocessed_snapshot.oot),
        "performance": evaluation_metrics,
        "config": {
            "training_config": training_config.model_dump(mode="json"),
            "estimator": estimator.model_dump(mode="json"),
            "search": search.model_dump(mode="json"),
        },
        "best_params": tuned_model["best_params"],
        "cv_score": tuned_model["cv_score"],
        "cv_scoring": training_config.scoring,
        "search": tuned_model["search"],
        "threshold": decision_threshold["threshold"],
        "threshold_rule": decision_threshold["rule"],
        "threshold_window": decision_threshold["window"],
        "snapshot_id": preprocessed_snapshot.snapshot_id,
        "gold_tables": snapshot_metadata.get("gold_tables"),
        "feature_columns": features,
        "feature_importances": {
            "kind": importances.name,
            "values": {str(k): float(v) for k, v in importances.items()},
        },
        "train_positive_rate": tuned_model["train_positive_rate"],
        "calibration": tuned_model.get("calibration", {"method": "none"}),
        "training_data": tuned_model.get("training_data", {"kind": "in_memory"}),
        "library_versions": library_versions(),
        "training_seconds": tuned_model["training_seconds"],
        "explanations": explanations,
        **trust_assessment,
        "population": population(preprocessed_snapshot),
    }
    return {"model": model, "metadata": metadata, "plots": evaluation_plots}


def _check_scaler_output(
    scaler: ColumnTransformer, features: list[str], snapshot_id: str
) -> None:
    produced = [str(c) for c in scaler.get_feature_names_out()]
    if produced != features:
        raise SnapshotContractError(
            f"The scaler of snapshot {snapshot_id} produces columns {produced[:5]}... which are "
            f"not metadata['feature_columns'] {features[:5]}... in the same order, so the "
            f"registered pipeline would feed the classifier the wrong inputs. Re-create the "
            f"snapshot with `kedro run --pipelines preprocessing`."
        )


def _observed_windows(
    snapshot: PreprocessedSnapshot,
) -> dict[str, dict[str, str | None]]:
    """First and last partition of each window, for snapshots without temporal_splits."""
    observed = {}
    for window, rows in snapshot.windows().items():
        dates = pd.to_datetime(
            rows["partition_date"]
            if "partition_date" in rows
            else pd.Series(dtype="datetime64[ns]")
        )
        observed[window] = {
            "start_date": None if dates.empty else str(dates.min().date()),
            "end_date": None if dates.empty else str(dates.max().date()),
        }
    return observed
