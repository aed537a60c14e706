"""The project's Kedro session: which algorithms a run trains, and failure isolation.

``settings.SESSION_CLASS`` makes ``kedro run`` use ``DiabReadmitSession``. It adds two things
to ``KedroSession.run``:

1. **Algorithm selection** (the seed's execution modes). ``__default__`` and ``training``
   contain all three training namespaces; the session leaves out the ones not selected
   (through ``KedroSession.run``'s ``namespaces`` filter):

   - ``ALGORITHM=<name>`` (the seed's single-algorithm mode): only that one;
   - otherwise ``training_config.enabled_algorithms``: the ones set to true.

   A pipeline named after an algorithm (``kedro run --pipelines xgboost``, what each ECS
   task runs) always trains it, whatever ``enabled_algorithms`` says; combined with a
   different ``ALGORITHM`` it is an error. An unknown algorithm or pipeline name is a
   one-line error listing the valid ones.

2. **Failure isolation.** The CLI's default ``SequentialRunner`` is replaced by
   ``FailureIsolatingRunner``: a failing algorithm does not stop the others, the run ends with
   a summary and exits non-zero. An explicitly chosen other runner (``--runner
   ThreadRunner``) is kept as it is.

Why a session and not the pipeline registry: the registry is built before configuration is
read, while the selection depends on parameters (including ``--params``) and the environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner, SequentialRunner
from pydantic import ValidationError

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.errors import UserFixableError
from diab_readmit.known_parameters import (
    catalog_runtime_parameters,
    check_locations,
    check_parameter_keys,
    parameter_files,
    parameter_types,
)
from diab_readmit.parameter_models import TrainingConfig
from diab_readmit.runner import FailureIsolatingRunner

logger = logging.getLogger(__name__)

ALGORITHM_VARIABLE = "ALGORITHM"
#: Pipelines whose training namespaces follow enabled_algorithms / ALGORITHM.
MULTI_ALGORITHM_PIPELINES = ("__default__", "training")


class AlgorithmSelectionError(UserFixableError, ValueError):
    """ALGORITHM or enabled_algorithms names nothing valid to train."""


class UnknownPipelineError(UserFixableError, ValueError):
    """``--pipelines`` names a pipeline the project does not register."""


def check_pipeline_names(requested: Iterable[str], registered: Iterable[str]) -> None:
    """Raise ``UnknownPipelineError`` listing the valid names if any requested one is unknown.

    Kedro's own check raises a ValueError that the CLI prints with two tracebacks.
    """
    valid = sorted(name for name in registered if name != "__default__")
    unknown = [
        name for name in requested if name not in valid and name != "__default__"
    ]
    if unknown:
        raise UnknownPipelineError(
            f"--pipelines {','.join(unknown)}: no such pipeline. Valid names are "
            f"{', '.join(valid)}; `kedro run` alone runs the whole job."
        )


def select_algorithms(
    pipeline_names: list[str],
    training_config: dict[str, Any] | TrainingConfig,
    algorithm: str | None,
) -> list[str] | None:
    """The algorithms a run of ``pipeline_names`` trains, or None when nothing is filtered.

    Args:
        pipeline_names: the requested pipelines (``["__default__"]`` for a bare ``kedro run``).
        training_config: the ``training_config`` parameters, raw or validated.
        algorithm: the value of the ``ALGORITHM`` environment variable, if set.

    Raises:
        AlgorithmSelectionError: unknown ALGORITHM, ALGORITHM conflicting with an explicitly
            requested algorithm pipeline, or no algorithm left to train.
    """
    algorithm = (algorithm or "").strip() or None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise AlgorithmSelectionError(
            f"{ALGORITHM_VARIABLE}={algorithm!r} is not an algorithm of this project; valid "
            f"names are {list(ALGORITHMS)}. Unset {ALGORITHM_VARIABLE} to train the ones "
            f"enabled in training_config.enabled_algorithms."
        )
    explicit = [name for name in pipeline_names if name in ALGORITHMS]
    conflicting = [name for name in explicit if algorithm and name != algorithm]
    if conflicting:
        raise AlgorithmSelectionError(
            f"{ALGORITHM_VARIABLE}={algorithm} conflicts with --pipelines {','.join(conflicting)}: "
            f"run `kedro run --pipelines {algorithm}`, or unset {ALGORITHM_VARIABLE}."
        )
    if not any(name in MULTI_ALGORITHM_PIPELINES for name in pipeline_names):
        return None
    if isinstance(training_config, TrainingConfig):
        config = training_config
    else:
        try:
            config = TrainingConfig.model_validate(training_config or {})
        except ValidationError as exc:
            raise AlgorithmSelectionError(
                f"training_config in conf/base/parameters_training.yml (or --params) is "
                f"invalid:\n{exc}"
            ) from exc
    selected = {algorithm} if algorithm else set(config.enabled())
    selected |= set(explicit)
    if not selected:
        raise AlgorithmSelectionError(
            f"No algorithm to train: every training_config.enabled_algorithms entry is false. "
            f"Enable one in conf/base/parameters_training.yml, pass e.g. --params "
            f"training_config.enabled_algorithms.xgboost=true, or set {ALGORITHM_VARIABLE}=<name> "
            f"(valid names: {list(ALGORITHMS)})."
        )
    return [name for name in ALGORITHMS if name in selected]


class DiabReadmitSession(KedroSession):
    """``KedroSession`` with algorithm selection and a failure-isolating default runner.

    Everything else is ``KedroSession.run``'s: the selection only narrows ``namespaces``
    (every algorithm's nodes are its namespace), and the other filters pass through.
    """

    def run(
        self,
        pipeline_name: str | None = None,
        pipeline_names: list[str] | None = None,
        *,
        runner: AbstractRunner | None = None,
        namespaces: Iterable[str] | None = None,
        **filters: Any,
    ) -> dict[str, Any]:
        requested = pipeline_names or ([pipeline_name] if pipeline_name else None)
        # The context is built once per run: here (so the project's hooks, e.g. concise
        # user errors, are active for selection errors too) and reused by KedroSession.run.
        pipelines.set_requested(requested)
        self._requested = requested
        self._run_context = super().load_context()
        try:
            if requested:
                pipelines.set_requested(None)  # every registered name, for the check
                check_pipeline_names(requested, pipelines.keys())
                pipelines.set_requested(requested)
            parameters = self._run_context.config_loader["parameters"]
            self._check_parameters(parameters)
            names = requested or ["__default__"]
            selected = select_algorithms(
                names,
                parameters.get("training_config"),
                os.environ.get(ALGORITHM_VARIABLE),
            )
            if selected is not None:
                namespaces = _namespaces_to_run(
                    names, selected, namespaces, filters.get("node_names")
                )
            if runner is None or type(runner) is SequentialRunner:
                runner = FailureIsolatingRunner(
                    is_async=getattr(runner, "_is_async", False)
                )
            return super().run(
                pipeline_name=pipeline_name,
                pipeline_names=pipeline_names,
                runner=runner,
                namespaces=namespaces,
                **filters,
            )
        finally:
            self._run_context = None

    def _check_parameters(self, parameters: dict[str, Any]) -> None:
        """Stop the run on a parameter key no node reads, or a location that cannot move
        the file read (see ``known_parameters``)."""
        loader = self._run_context.config_loader
        envs = [e for e in (loader.base_env, loader.env or loader.default_run_env) if e]
        pipelines.set_requested(None)
        known = parameter_types(n for p in pipelines.values() for n in p.nodes)
        pipelines.set_requested(self._requested)
        known |= catalog_runtime_parameters(loader.conf_source, envs)
        check_parameter_keys(self.store.get("runtime_params") or {}, known, "--params")
        files = parameter_files(loader.conf_source, envs)
        check_parameter_keys(parameters, known, files)
        check_locations(parameters, loader["catalog"])

    def load_context(self) -> KedroContext:
        return getattr(self, "_run_context", None) or super().load_context()


def _namespaces_to_run(
    names: list[str],
    selected: list[str],
    namespaces: Iterable[str] | None,
    node_names: Iterable[str] | None,
) -> Iterable[str] | None:
    """The namespaces of the requested pipelines (or ``--namespaces``) minus unselected algorithms.

    Raises:
        AlgorithmSelectionError: nothing is left to run.
    """
    dropped = set(ALGORITHMS) - set(selected)
    logger.info(
        "Training %s%s",
        ", ".join(selected),
        f" (not {', '.join(sorted(dropped))})" if dropped else "",
    )
    if not dropped:
        return namespaces
    if namespaces:
        candidates = list(namespaces)
    else:
        combined = sum((pipelines[name] for name in names), Pipeline([]))
        unnamespaced = [n.name for n in combined.nodes if not n.namespace]
        if unnamespaced:  # the namespace filter would drop them without a word
            raise AlgorithmSelectionError(
                f"Nodes {unnamespaced} have no namespace, so training_config."
                f"enabled_algorithms and {ALGORITHM_VARIABLE} cannot leave algorithms out "
                f"of `kedro run`: give their pipeline a namespace in pipeline_registry.py."
            )
        candidates = list(dict.fromkeys(n.namespace for n in combined.nodes))
    kept = [name for name in candidates if name.split(".")[0] not in dropped]
    wanted_nodes = list(node_names or [])
    if not kept or (
        wanted_nodes and all(n.split(".")[0] in dropped for n in wanted_nodes)
    ):
        raise AlgorithmSelectionError(
            f"Nothing to run: the requested nodes all belong to algorithms that are not "
            f"selected ({', '.join(sorted(dropped))}). Check --nodes, --namespaces, "
            f"training_config.enabled_algorithms and {ALGORITHM_VARIABLE}."
        )
    return kept
