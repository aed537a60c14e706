"""Project pipelines: one per stage, and one training template instantiated per algorithm."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.pipelines import (
    data_processing,
    inference,
    monitoring,
    preprocessing,
    promote,
    reporting,
    synthetic,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """``kedro run --pipelines NAME`` runs one of these; ``kedro run`` runs ``__default__``.

    ``__default__`` and ``training`` contain every algorithm; the session drops the ones
    switched off by ``training_config.enabled_algorithms`` or not named by ``ALGORITHM``.
    """
    per_algorithm = {
        name: training.create_pipeline(algorithm=name) for name in ALGORITHMS
    }
    all_training = sum(per_algorithm.values(), Pipeline([]))
    gold = data_processing.create_pipeline()
    snapshot = preprocessing.create_pipeline()
    report = reporting.create_pipeline()
    scoring = inference.create_pipeline()
    watching = monitoring.create_pipeline()
    return {
        "synthetic": synthetic.create_pipeline(),
        "data_processing": gold,
        "preprocessing": snapshot,
        **per_algorithm,
        "training": all_training,
        "reporting": report,
        "promote": promote.create_pipeline(),
        "inference": scoring,
        "monitoring": watching,
        # New extracts scored by the champions `kedro run` left, then monitored: a run of its
        # own, after `kedro run`, since the champions are read from the registry it wrote.
        "batch": scoring + watching,
        "__default__": gold + snapshot + all_training + report,
    }
