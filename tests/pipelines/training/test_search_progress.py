"""Progress inside a search stage: chunked evaluation changes nothing, and no stage is silent."""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)

from diab_readmit.pipelines.training.search import (
    LoggedHalvingRandomSearchCV,
    LoggedRandomizedSearchCV,
)
from diab_readmit.pipelines.training.search_progress import StageProgress

SPACE = {"C": stats.loguniform(1e-3, 10)}


def _data():
    return make_classification(n_samples=600, n_features=8, random_state=0)


def _common(**extra):
    return dict(
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=1),
        random_state=3,
        refit=False,
        n_jobs=1,
        **extra,
    )


@pytest.mark.parametrize(
    "chunk_seconds", [0.0, 1e9]
)  # one candidate per chunk / one chunk
def test_chunked_halving_search_equals_scikit_learns(chunk_seconds):
    X, y = _data()
    plain = HalvingRandomSearchCV(
        LogisticRegression(), SPACE, n_candidates=9, factor=3, **_common()
    )
    logged = LoggedHalvingRandomSearchCV(
        LogisticRegression(), SPACE, n_candidates=9, factor=3, **_common()
    )
    logged.chunk_seconds = chunk_seconds
    plain.fit(X, y)
    logged.fit(X, y)

    assert logged.best_params_ == plain.best_params_
    for key in ("params", "iter", "n_resources", "mean_test_score", "rank_test_score"):
        assert np.array_equal(
            np.asarray(logged.cv_results_[key]), np.asarray(plain.cv_results_[key])
        ), key
    assert [stage["candidates"] for stage in logged.stages_] == list(
        plain.n_candidates_
    )


def test_chunked_random_search_equals_scikit_learns():
    X, y = _data()
    plain = RandomizedSearchCV(LogisticRegression(), SPACE, n_iter=7, **_common()).fit(
        X, y
    )
    logged = LoggedRandomizedSearchCV(
        LogisticRegression(), SPACE, n_iter=7, **_common()
    )
    logged.chunk_seconds = 0.0
    logged.fit(X, y)

    assert logged.cv_results_["params"] == plain.cv_results_["params"]
    assert np.array_equal(
        logged.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    assert len(logged.stages_) == 1 and logged.stages_[0]["candidates"] == 7


class _SlowClassifier(ClassifierMixin, BaseEstimator):
    """A fit that takes ``seconds``: a stage long enough to need progress lines."""

    def __init__(self, seconds: float = 0.05, C: float = 1.0):
        self.seconds = seconds
        self.C = C

    def fit(self, X, y):
        time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        score = 1 / (1 + np.exp(-X[:, 0] * self.C))
        return np.column_stack([1 - score, score])


def test_a_long_stage_logs_fits_done_elapsed_and_time_left(caplog):
    caplog.set_level(logging.INFO, logger="diab_readmit.pipelines.training")
    X, y = _data()
    search = LoggedRandomizedSearchCV(_SlowClassifier(), SPACE, n_iter=8, **_common())
    search.label, search.chunk_seconds, search.progress_interval = "slow", 0.0, 0.2
    search.fit(X, y)  # 24 fits of 0.05 s: ~1.2 s, a progress line every 0.2 s

    progress = [r.getMessage() for r in caplog.records if "fits," in r.getMessage()]
    assert len(progress) >= 3, progress
    pattern = re.compile(
        r"slow search stage 1: (\d+)/24 fits, \d+s elapsed(, about \d+s left)?"
    )
    assert all(pattern.fullmatch(line) for line in progress), progress
    done = [int(pattern.fullmatch(line).group(1)) for line in progress]
    assert done == sorted(done) and 0 < done[-1] < 24
    assert any("left" in line for line in progress)


def test_progress_estimates_the_rest_from_the_time_per_fit(monkeypatch):
    clock = iter([100.0, 160.0])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    progress = StageProgress("x search stage 2", total_fits=100, interval=3600)
    with progress:
        progress.advance(40)
        assert (
            progress.status()
            == "x search stage 2: 40/100 fits, 1m00s elapsed, about 1m30s left"
        )
