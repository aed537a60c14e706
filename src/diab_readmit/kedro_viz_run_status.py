"""kedro-viz's "Workflow run status" for runs of ``FailureIsolatingRunner``.

kedro-viz records a run's node and dataset events in ``.viz/kedro_pipeline_events.json``
through a hook it registers itself, but only when the run's runner is Kedro's
``SequentialRunner``: for any other it logs "Workflow tracking is disabled for
non-sequential runners" and records nothing. ``FailureIsolatingRunner`` is a
``SequentialRunner`` (one node at a time, in topological order) that carries on past a
failed node with the nodes that do not depend on it, so the events kedro-viz reads mean
the same thing: a completed node is ``after_node_run``, a failed one ``on_node_error``, and
a run that had failures ends with ``on_pipeline_error`` (the nodes skipped because of a
failure show as not run).

``settings.py`` disables kedro-viz's own hooks and registers ``run_status_hooks()``
instead: kedro-viz's run-status hook told that this runner is sequential, and its dataset
statistics hook unchanged.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from diab_readmit.runner import FailureIsolatingRunner

#: The distribution whose entry-point hooks settings.DISABLE_HOOKS_FOR_PLUGINS turns off.
KEDRO_VIZ_DISTRIBUTION = "kedro-viz"

try:
    from kedro_viz.integrations.kedro.hooks import DatasetStatsHook
    from kedro_viz.integrations.kedro.run_hooks import PipelineRunStatusHook
except ImportError:  # pragma: no cover - kedro-viz is a runtime dependency
    PipelineRunStatusHook = DatasetStatsHook = None

#: How KedroSession.run records this runner in run_params["runner"]: str(runner).
_RUNNER_RECORD = (
    f"{FailureIsolatingRunner.__module__}.{FailureIsolatingRunner.__qualname__} object"
)

if PipelineRunStatusHook is not None:

    class FailureIsolatingRunStatusHook(PipelineRunStatusHook):
        """kedro-viz's run-status hook, accepting ``FailureIsolatingRunner`` as sequential."""

        @hook_impl
        def before_pipeline_run(
            self, run_params: dict[str, Any], pipeline: Any
        ) -> None:
            if _RUNNER_RECORD in str(run_params.get("runner")):
                # kedro-viz treats a missing runner as SequentialRunner (hooks_utils).
                run_params = {**run_params, "runner": None}
            super().before_pipeline_run(run_params, pipeline)


def run_status_hooks() -> tuple[Any, ...]:
    """The kedro-viz hooks the project registers in place of kedro-viz's own."""
    if PipelineRunStatusHook is None:  # pragma: no cover
        return ()
    return (FailureIsolatingRunStatusHook(), DatasetStatsHook())
