"""Hyperparameter search: the space from ``params:search``, the method, and its progress.

Two methods, both seeded and both scored by cross-validation on the training window only:

- ``random``: ``RandomizedSearchCV``, every candidate on all training rows (the seed's method);
- ``successive_halving``: ``HalvingRandomSearchCV``. All candidates start on a random
  ``1/factor**k`` of the training rows; each stage keeps the best ``1/factor`` of them and
  gives them ``factor`` times more rows; the last stage uses every training row. Same
  number of candidates, about a third of the work at ``factor: 3``.

Search spaces are YAML: a list is a set of choices; ``{loguniform: [low, high]}``,
``{uniform: [low, high]}`` and ``{randint: [low, high]}`` (both ends inclusive) are
distributions sampled per candidate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from joblib import effective_n_jobs, parallel_config
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (registers the class)
from sklearn.model_selection import (
    HalvingRandomSearchCV,
    ParameterSampler,
    RandomizedSearchCV,
    train_test_split,
)

from diab_readmit.patient_folds import StratifiedPatientKFold

from .search_progress import StageProgress

logger = logging.getLogger(__name__)

SearchMethod = Literal["random", "successive_halving"]
_DISTRIBUTIONS = ("loguniform", "uniform", "randint")


class SearchSettings(BaseModel):
    """``<algorithm>.search`` in parameters_training.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: SearchMethod = "successive_halving"
    #: Candidates drawn from the space; ``null`` takes ``training_config.n_candidates``.
    n_candidates: int | None = Field(default=None, ge=1)
    #: Successive halving: keep 1/factor of the candidates per stage, with factor x the rows.
    factor: int = Field(default=3, ge=2)
    #: Share of the training rows the search sees (a stratified random sample), and a cap on
    #: their number; a halving search's last stage fits on all of them. Ranking candidates
    #: needs far fewer rows than the final model: the winner is refitted on every train row.
    search_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    max_search_rows: int | None = Field(default=None, ge=100)
    #: Estimator parameter name -> list of choices, or {distribution: [low, high]}.
    space: dict[str, list[Any] | dict[str, list[float]]] = Field(min_length=1)

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        for name, spec in space.items():
            if isinstance(spec, list):
                if not spec:
                    raise ValueError(
                        f"space.{name} is an empty list; give at least one choice"
                    )
                continue
            if len(spec) != 1 or next(iter(spec)) not in _DISTRIBUTIONS:
                raise ValueError(
                    f"space.{name} = {spec!r}: write a list of choices or exactly one of "
                    f"{list(_DISTRIBUTIONS)} with [low, high], e.g. {{loguniform: [0.001, 10]}}"
                )
            kind, bounds = next(iter(spec.items()))
            if len(bounds) != 2 or not bounds[0] < bounds[1]:
                raise ValueError(
                    f"space.{name}.{kind} = {bounds!r}: need [low, high] with low < high"
                )
            if kind == "loguniform" and bounds[0] <= 0:
                raise ValueError(
                    f"space.{name}.loguniform = {bounds!r}: low must be > 0"
                )
        return space


def parameter_distributions(space: dict[str, Any]) -> dict[str, Any]:
    """scikit-learn ``param_distributions`` from a validated YAML space."""
    distributions: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            distributions[name] = list(spec)
            continue
        kind, (low, high) = next(iter(spec.items()))
        if kind == "loguniform":
            distributions[name] = stats.loguniform(low, high)
        elif kind == "uniform":
            distributions[name] = stats.uniform(low, high - low)
        else:
            distributions[name] = stats.randint(int(low), int(high) + 1)
    return distributions


class _StageLogging:
    """Progress while a search stage runs, and one line per stage when it is done.

    Wraps the ``evaluate_candidates`` callback scikit-learn hands to ``_run_search``, which
    the search classes call once per stage (a halving stage, or all of a random search's
    candidates). The wrapper hands a stage's candidates to scikit-learn in chunks (whole
    candidates, all folds each, chunks sized to finish in about ``chunk_seconds``): the
    fits, scores and ``cv_results_`` are the same as in one call, and between chunks
    ``StageProgress`` knows how many fits are done. ``label``, ``chunk_seconds`` and
    ``progress_interval`` are plain attributes, not constructor parameters, so
    scikit-learn's parameter handling of the search classes stays untouched.
    """

    label = "search"
    #: Aimed-for duration of one chunk of fits, and seconds between progress log lines.
    chunk_seconds = 30.0
    progress_interval = 30.0
    stages_: list[dict[str, Any]]

    def _logged(self, evaluate_candidates: Any, n_rows: int) -> Any:
        self.stages_ = []

        def evaluate(candidate_params, cv=None, more_results=None, callback_ctx=None):
            # callback_ctx is not passed on: scikit-learn's experimental callbacks need
            # distinct task ids per stage, which chunks would repeat; none are used here.
            candidate_params = list(candidate_params)
            number = len(self.stages_) + 1
            started = time.perf_counter()
            description = f"{self.label} search stage {number}"
            with StageProgress(
                description,
                len(candidate_params) * self.n_splits_,
                self.progress_interval,
            ) as progress:
                for start, stop in self._chunks(len(candidate_params), started):
                    results = evaluate_candidates(
                        candidate_params[start:stop],
                        cv,
                        more_results=_sliced(more_results, start, stop),
                    )
                    progress.advance((stop - start) * self.n_splits_)
            rows = (more_results or {}).get("n_resources", [n_rows])[0]
            stage_scores = results["mean_test_score"][-len(candidate_params) :]
            stage = {
                "stage": number,
                "candidates": len(candidate_params),
                "rows": int(rows),
                "best_stage_score": _best(stage_scores),
                "best_score_so_far": _best(results["mean_test_score"]),
                "seconds": round(time.perf_counter() - started, 2),
            }
            self.stages_.append(stage)
            logger.info(
                "%s search stage %d: %d candidates x %d folds on %d rows, best %s this stage "
                "%.4f (best so far %.4f), %.1f s",
                self.label,
                stage["stage"],
                stage["candidates"],
                self.n_splits_,
                stage["rows"],
                self.scoring,
                stage["best_stage_score"],
                stage["best_score_so_far"],
                stage["seconds"],
            )
            return results

        return evaluate

    def _chunks(self, n_candidates: int, started: float) -> Iterator[tuple[int, int]]:
        """(start, stop) candidate ranges; each chunk's fits fill every worker evenly.

        The first chunk is a quarter of the stage; later ones are sized from the stage's
        time per candidate so far, to take about ``chunk_seconds``. Each chunk boundary
        leaves a worker idle for about one fit, so chunks are no smaller than they must be.
        """
        workers = max(1, effective_n_jobs(self.n_jobs))
        step = workers // math.gcd(self.n_splits_, workers)
        start = 0
        while start < n_candidates:
            size = max(step, n_candidates // 4 // step * step)
            if start:
                per_candidate = (time.perf_counter() - started) / start
                size = max(
                    step,
                    int(self.chunk_seconds / max(per_candidate, 1e-9)) // step * step,
                )
            stop = min(n_candidates, start + size)
            yield start, stop
            start = stop


def _sliced(
    more_results: dict[str, list] | None, start: int, stop: int
) -> dict[str, list] | None:
    """The per-candidate lists of ``more_results`` for candidates ``start:stop``."""
    if more_results is None:
        return None
    return {key: list(values)[start:stop] for key, values in more_results.items()}


def _best(scores: np.ndarray) -> float:
    """The highest finite score; NaN when no candidate has one (scikit-learn warns already)."""
    finite = np.asarray(scores, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else math.nan


class LoggedRandomizedSearchCV(_StageLogging, RandomizedSearchCV):
    """``RandomizedSearchCV`` with progress and a log line for its one stage.

    The candidates are the same ``ParameterSampler`` draw as ``RandomizedSearchCV``'s.
    """

    def fit(self, X, y=None, **params):
        self._n_rows = len(X)
        return super().fit(X, y, **params)

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        evaluate = self._logged(evaluate_candidates, self._n_rows)
        evaluate(
            ParameterSampler(
                self.param_distributions, self.n_iter, random_state=self.random_state
            )
        )


class LoggedHalvingRandomSearchCV(_StageLogging, HalvingRandomSearchCV):
    """``HalvingRandomSearchCV`` with a log line per halving stage."""

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        super()._run_search(
            self._logged(evaluate_candidates, -1), callback_ctx=callback_ctx
        )


def search_rows(y: np.ndarray, settings: SearchSettings, seed: int) -> np.ndarray:
    """Indices of the training rows the search sees: all, or a stratified random sample.

    ``search_fraction`` of the rows, at most ``max_search_rows``. Sampling once, before the
    search, keeps the matrix shared with the worker processes that small, and makes the
    search cost stop growing with the data beyond ``max_search_rows``.
    """
    wanted = round(settings.search_fraction * len(y))
    if settings.max_search_rows is not None:
        wanted = min(wanted, settings.max_search_rows)
    if wanted >= len(y):
        return np.arange(len(y))
    rows, _ = train_test_split(
        np.arange(len(y)), train_size=wanted, stratify=y, random_state=seed
    )
    return np.sort(rows)


def search_candidates(searcher: BaseEstimator) -> list[dict[str, Any]]:
    """Every candidate the fitted search scored, one record each (a halving search lists a
    candidate once per stage it reached): its parameters, mean and standard deviation of
    the cross-validated score, rank, and for halving the stage and its rows."""
    results = searcher.cv_results_
    stage_columns = [c for c in ("iter", "n_resources") if c in results]
    return [
        {
            "params": {k: _plain_value(v) for k, v in params.items()},
            "mean_test_score": float(results["mean_test_score"][i]),
            "std_test_score": float(results["std_test_score"][i]),
            "rank_test_score": int(results["rank_test_score"][i]),
            **{c: int(results[c][i]) for c in stage_columns},
        }
        for i, params in enumerate(results["params"])
    ]


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


#: Seconds an idle worker process lives. Stages of one search follow each other within
#: milliseconds; the refit's large allocations come seconds after the search ends, by which
#: time the workers (and the data they map) are gone. joblib's default keeps them
#: for 5 minutes, through the refit, scoring and registration.
WORKER_IDLE_SECONDS = 1


def fit_search(
    searcher: BaseEstimator, X: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> None:
    """Fit ``searcher`` on worker processes that exit soon after the search.

    ``groups`` (patient_nbr) keeps every patient's encounters in one fold.
    """
    with parallel_config(backend="loky", idle_worker_timeout=WORKER_IDLE_SECONDS):
        searcher.fit(X, y, groups=groups)


def make_search(
    estimator: BaseEstimator,
    settings: SearchSettings,
    *,
    n_candidates: int,
    cv_folds: int,
    scoring: str,
    n_jobs: int,
    seed: int,
    label: str,
    prefix: str = "",
) -> BaseEstimator:
    """An unfitted search over ``settings.space``; ``refit=False``, the caller refits.

    Folds are stratified and grouped (``fit(..., groups=patient_nbr)``): a patient's
    encounters never sit on both sides of a fold, which would score candidates on patients
    they were trained on. ``prefix`` is prepended to the space's parameter names, for estimators wrapped in a
    pipeline (``logistic_regression__C``).
    """
    common = dict(
        scoring=scoring,
        cv=StratifiedPatientKFold(n_splits=cv_folds, random_state=seed),
        n_jobs=n_jobs,
        random_state=seed,
        refit=False,
        error_score="raise",
    )
    distributions = {
        prefix + k: v for k, v in parameter_distributions(settings.space).items()
    }
    search: _StageLogging
    if settings.method == "random":
        search = LoggedRandomizedSearchCV(
            estimator, distributions, n_iter=n_candidates, **common
        )
    else:
        search = LoggedHalvingRandomSearchCV(
            estimator,
            distributions,
            n_candidates=n_candidates,
            factor=settings.factor,
            resource="n_samples",
            min_resources="exhaust",
            **common,
        )
    search.label = label
    return search
