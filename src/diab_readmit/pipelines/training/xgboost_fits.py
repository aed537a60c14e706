"""XGBoost's final fit past one float matrix: through external memory, or on a Dask cluster.

The search is the same on every path (a capped stratified sample of the train window, in
memory: ``search.max_search_rows``); only the final refit of the winner changes where its
data lives. Both paths here fit the same booster parameters, for the same rounds, early-
stopping on the same rows as the in-memory ``EarlyStoppingXGBClassifier.plain_fit``, and
hand back the same kind of model: a plain, fitted ``xgboost.XGBClassifier`` (loaded from the
trained booster), which calibration, explanations, scoring and the registry take as they
take the in-memory one.

- ``external_memory`` (pandas engine, at ``estimator.external_memory.min_rows`` fit rows or
  more): ``RowBatches`` hands XGBoost the fit rows ``batch_rows`` at a time; XGBoost sketches
  the quantiles over the batches and keeps the binned pages in a cache on disk
  (``xgboost.ExtMemQuantileDMatrix``), so no float32 matrix of every fit row exists.
- ``dask`` (``DIAB_ENGINE=dask``): the fit rows go to the workers of the run's Dask client
  (``distributed.default_client()``, which the engine's hook keeps), one batch at a time,
  and ``xgboost.dask.train`` trains on a ``DaskQuantileDMatrix`` across them.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost

from diab_readmit.datasets.parquet_window import ParquetWindow, Window
from diab_readmit.engine import selected_engine
from diab_readmit.errors import UserFixableError

from .estimators import (
    EarlyStoppingXGBClassifier,
    EstimatorSettings,
    ExternalMemorySettings,
)
from .model_matrix import model_matrix

logger = logging.getLogger(__name__)

TrainingData = Literal["in_memory", "external_memory", "dask"]
#: One batch of fit rows: float32 inputs, labels, sample weights (None: all 1).
Batch = tuple[np.ndarray, np.ndarray, np.ndarray | None]
#: A fresh pass over the fit rows, batch by batch (XGBoost reads them more than once).
Batches = Callable[[], Iterator[Batch]]
#: Name of the early-stopping evaluation set, as ``XGBClassifier.fit`` calls it.
EVALUATION_NAME = "validation_0"


class NoDaskClientError(UserFixableError, RuntimeError):
    """DIAB_ENGINE=dask, but the run has no Dask client to train on."""


def training_data(
    estimator: EstimatorSettings, model: Any, n_fit_rows: int
) -> TrainingData:
    """Where the final fit of ``model`` (built from ``estimator``) reads its rows from.

    Only XGBoost leaves memory: on the Dask engine always, on the pandas engine from
    ``estimator.external_memory.min_rows`` fit rows on. Other algorithms fit in memory.
    """
    if not isinstance(model, EarlyStoppingXGBClassifier):
        return "in_memory"
    if selected_engine() == "dask":
        return "dask"
    settings = estimator.external_memory
    if settings is not None and n_fit_rows >= settings.min_rows:
        return "external_memory"
    return "in_memory"


def frame_batches(
    frame: pd.DataFrame,
    features: list[str],
    rows: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    batch_rows: int,
) -> Batches:
    """Passes over ``rows`` of ``frame`` (labels ``y``, weights ``weight`` per row of ``rows``)."""

    def batches() -> Iterator[Batch]:
        for start in range(0, len(rows), batch_rows):
            stop = start + batch_rows
            yield (
                model_matrix(frame, features, rows[start:stop]),
                y[start:stop],
                None if weight is None else weight[start:stop],
            )

    return batches


def window_batches(
    window: ParquetWindow,
    features: list[str],
    rows: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    batch_rows: int,
) -> Batches:
    """As ``frame_batches``, over a lazy window: one pass reads the file in order and
    keeps ``rows`` (increasing positions), handed over in the same batches of
    ``batch_rows`` fit rows as ``frame_batches`` makes, so both fit the same model."""

    def batches() -> Iterator[Batch]:
        pending: list[np.ndarray] = []
        held, emitted = 0, 0
        for start, matrix in window.iter_matrices(features, batch_rows):
            low, high = np.searchsorted(rows, [start, start + len(matrix)])
            if high > low:
                pending.append(matrix[rows[low:high] - start])
                held += high - low
            del matrix
            while held >= batch_rows or (held and high == len(rows)):
                joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                size = min(batch_rows, held)
                stop = emitted + size
                yield (
                    np.ascontiguousarray(joined[:size]),
                    y[emitted:stop],
                    None if weight is None else weight[emitted:stop],
                )
                pending = [joined[size:]] if held > size else []
                held, emitted = held - size, stop
            if emitted == len(rows):
                return

    return batches


class RowBatches(xgboost.DataIter):
    """An ``xgboost.DataIter`` over ``batches``: one batch in Python memory at a time.

    XGBoost calls ``next`` until it returns False and ``reset`` before every further pass
    (the quantile sketch and the page cache each read every batch once).
    """

    def __init__(
        self, batches: Batches, feature_names: list[str], cache_prefix: str
    ) -> None:
        self._batches = batches
        self._feature_names = feature_names
        self._pass: Iterator[Batch] | None = None
        self.batches_read = 0
        self.batches_per_pass = 0
        self._in_pass = 0
        # release_data: the float32 batch is rebuilt on each pass rather than kept.
        super().__init__(cache_prefix=cache_prefix, release_data=True)

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._pass is None:
            self._pass = self._batches()
        batch = next(self._pass, None)
        if batch is None:
            self.batches_per_pass = max(self.batches_per_pass, self._in_pass)
            return False
        self._in_pass += 1
        X, y, weight = batch
        input_data(data=X, label=y, weight=weight, feature_names=self._feature_names)
        self.batches_read += 1
        return True

    def reset(self) -> None:
        self._pass, self._in_pass = None, 0


def fit_past_memory(
    where: TrainingData,
    model: EarlyStoppingXGBClassifier,
    estimator: EstimatorSettings,
    frame: Window,
    features: list[str],
    fit_rows: np.ndarray,
    y_fit: np.ndarray,
    eval_set: tuple[pd.DataFrame, np.ndarray] | None,
    n_jobs: int,
) -> tuple[xgboost.XGBClassifier, dict[str, Any]]:
    """Fit ``model``'s parameters on ``fit_rows`` (increasing) of ``frame`` through ``where``.

    ``frame`` is the train window in memory or lazy (``ParquetWindow``, read batch by
    batch on every pass); both give XGBoost the same batches.

    ``n_jobs`` threads, as the in-memory refit (``fit_final``); on Dask each worker's own.

    Early stopping as ``plain_fit``: on ``eval_set`` (the calibration holdout) when given,
    else on a stratified ``validation_fraction`` of the fit rows, which stay in the fit
    with weight 0. Returns the fitted classifier (one prediction thread) and what the
    metadata records about the fit's data.
    """
    plain = model.plain_estimator().set_params(n_jobs=n_jobs)
    weight = None
    if model.early_stopping_rounds is None:
        eval_set = None
    elif eval_set is None:
        holdout = model.early_stopping_rows(y_fit)
        if holdout is not None:
            weight = np.ones(len(y_fit), dtype=np.float32)
            weight[holdout] = 0.0
            eval_set = (
                pd.DataFrame(
                    model_matrix(frame, features, fit_rows[holdout]), columns=features
                ),
                y_fit[holdout],
            )
    settings = estimator.external_memory or ExternalMemorySettings()
    batch_rows = settings.batch_rows
    batching = window_batches if isinstance(frame, ParquetWindow) else frame_batches
    batches = batching(frame, features, fit_rows, y_fit, weight, batch_rows)
    if where == "external_memory":
        booster, details = train_external_memory(
            plain, batches, features, eval_set, settings.cache_dir
        )
    elif where == "dask":
        booster, details = _train_on_dask(plain, batches, features, eval_set)
    else:
        raise ValueError(f"fit_past_memory cannot train {where!r}")
    fitted = as_classifier(plain, booster)
    details = {
        "kind": where,
        "rows": int(len(fit_rows)),
        "batch_rows": int(batch_rows),
        "batches": math.ceil(len(fit_rows) / batch_rows),
        **details,
    }
    logger.info(
        "xgboost: final fit through %s on %d rows (%s), %d boosting rounds",
        where.replace("_", " "),
        len(fit_rows),
        ", ".join(f"{k} {v}" for k, v in details.items() if k not in ("kind", "rows")),
        booster.num_boosted_rounds(),
    )
    return fitted, details


def as_classifier(
    plain: xgboost.XGBClassifier, booster: xgboost.Booster
) -> xgboost.XGBClassifier:
    """``plain`` (unfitted, with the fit's parameters) holding ``booster``, one thread.

    ``load_model`` restores what ``XGBClassifier.fit`` would have set: classes, objective,
    feature names and the early-stopping ``best_iteration`` its predictions stop at.
    """
    plain.set_params(n_jobs=1)
    plain.load_model(bytearray(booster.save_raw("ubj")))
    return plain


def _boosting_arguments(plain: xgboost.XGBClassifier) -> dict[str, Any]:
    return {
        "params": plain.get_xgb_params(),
        "num_boost_round": plain.get_num_boosting_rounds(),
        "early_stopping_rounds": plain.early_stopping_rounds,
        "verbose_eval": False,
    }


def train_external_memory(
    plain: xgboost.XGBClassifier,
    batches: Batches,
    features: list[str],
    eval_set: tuple[pd.DataFrame, np.ndarray] | None,
    cache_dir: str | None,
) -> tuple[xgboost.Booster, dict[str, Any]]:
    """Train on an ``ExtMemQuantileDMatrix`` cached in a temporary folder under ``cache_dir``."""
    if cache_dir is not None:
        os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xgboost-cache-", dir=cache_dir) as cache:
        iterator = RowBatches(batches, features, os.path.join(cache, "train"))
        train = xgboost.ExtMemQuantileDMatrix(
            iterator, max_bin=plain.max_bin, nthread=plain.n_jobs
        )
        evals = []
        if eval_set is not None:
            X_eval, y_eval = eval_set
            evals = [
                (
                    xgboost.QuantileDMatrix(
                        X_eval, y_eval, ref=train, feature_names=features
                    ),
                    EVALUATION_NAME,
                )
            ]
        booster = xgboost.train(dtrain=train, evals=evals, **_boosting_arguments(plain))
        cache_bytes = sum(
            entry.stat().st_size for entry in os.scandir(cache) if entry.is_file()
        )
        # The matrices own the cache files: free them before their folder goes.
        del train, evals
    return booster, {
        "batch_passes": iterator.batches_read // max(1, iterator.batches_per_pass),
        "cache_megabytes": round(cache_bytes / 2**20, 1),
    }


def _train_on_dask(
    plain: xgboost.XGBClassifier,
    batches: Batches,
    features: list[str],
    eval_set: tuple[pd.DataFrame, np.ndarray] | None,
) -> tuple[xgboost.Booster, dict[str, Any]]:
    """Train with ``xgboost.dask`` on the run's default Dask client."""
    # Imported here: a pandas run never pays for Dask's import (about a second).
    import dask.array as da
    import xgboost.dask as dxgb
    from distributed import default_client

    try:
        client = default_client()
    except ValueError as exc:
        raise NoDaskClientError(
            "DIAB_ENGINE=dask, but this run has no Dask client to train XGBoost on. Run "
            "it through `kedro run` (the engine's hook starts a LocalCluster, or connects to "
            "DASK_SCHEDULER_ADDRESS), or unset DIAB_ENGINE to train with pandas."
        ) from exc
    workers = sorted(client.scheduler_info()["workers"])
    parts: dict[str, list[Any]] = {"X": [], "y": [], "weight": []}
    for number, (X, y, weight) in enumerate(batches()):
        # Batches are dealt to the workers in turn, so every worker trains on rows.
        where = [workers[number % len(workers)]]
        parts["X"].append(_scattered(client, X, where))
        parts["y"].append(_scattered(client, y.astype(np.float32), where))
        if weight is not None:
            parts["weight"].append(_scattered(client, weight, where))
    train = dxgb.DaskQuantileDMatrix(
        client,
        da.concatenate(parts["X"]),
        da.concatenate(parts["y"]),
        weight=da.concatenate(parts["weight"]) if parts["weight"] else None,
        feature_names=features,
        max_bin=plain.max_bin,
    )
    evals = []
    if eval_set is not None:
        X_eval, y_eval = eval_set
        evaluation = dxgb.DaskQuantileDMatrix(
            client,
            da.from_array(X_eval.to_numpy(dtype=np.float32)),
            da.from_array(np.asarray(y_eval, dtype=np.float32)),
            ref=train,
            feature_names=features,
        )
        evals = [(evaluation, EVALUATION_NAME)]
    arguments = _boosting_arguments(plain)
    # Each worker trains with its own threads, not the refit's n_jobs.
    arguments["params"] = {
        k: v for k, v in arguments["params"].items() if k != "n_jobs"
    }
    result = dxgb.train(client, dtrain=train, evals=evals, **arguments)
    return result["booster"], {
        "dask_workers": len(workers),
        "scheduler": client.scheduler.address,
    }


def _scattered(client: Any, values: np.ndarray, workers: list[str]) -> Any:
    """``values`` on one of ``workers``, as a one-chunk Dask array."""
    import dask.array as da

    future = client.scatter(values, workers=workers)
    return da.from_delayed(future, shape=values.shape, dtype=values.dtype)
