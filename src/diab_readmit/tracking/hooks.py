"""``TrackRunsInMlflow``: every ``kedro run`` recorded as an MLflow run, from a Kedro hook.

One run per ``kedro run`` (tags: pipeline, env, Kedro session id; params: the windows,
cohort, preprocessing, search and calibration settings; the report as artifacts) and one
nested run per trained algorithm (its estimator and search settings, the snapshot id and
the gold table versions, CV score and best parameters, every search candidate as a table,
per-window metrics with bootstrap intervals, the evaluation plots and the model card).
After a registration or a promotion, the algorithm's registry is mirrored into MLflow's
(:mod:`diab_readmit.tracking.model_mirror`).

Tracking never fails a run: an unreachable server, or any MLflow error, is one warning line
and the run goes on untracked; the project's registry does not depend on it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.model_registry import stamp_model_card
from diab_readmit.parameter_models import TrainingConfig
from diab_readmit.tracking import records
from diab_readmit.tracking.model_mirror import mirror_registry, model_signature
from diab_readmit.tracking.settings import SWITCH, TrackingSettings, tracking_settings

logger = logging.getLogger(__name__)

SNAPSHOT = "preprocessed_snapshot"
REPORTS = {
    "reporting.comparison_report_html": "report/model_comparison.html",
    "reporting.comparison_report_md": "report/model_comparison.md",
    "monitoring.report_html": "monitoring/monitoring_report.html",
}
PROMOTION_RECORD = "promotion_record"
#: Seconds and tries of MLflow's HTTP client against a server (its defaults: 120 s, 7 tries
#: with exponential backoff, minutes before an outage is reported).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
}


class TrackingUnavailable(Exception):
    """The tracking server cannot be reached."""


class TrackRunsInMlflow:
    """Kedro hook: record each run in MLflow, mirror the registry; never fail the run."""

    def __init__(self) -> None:
        self._settings: TrackingSettings | None = None
        self._context: Any = None
        self._client: Any = None
        self._catalog: Any = None
        self._parent: str | None = None
        self._children: dict[str, str] = {}
        self._snapshot_logged: set[str] = set()

    # ---------------------------------------------------------------- lifecycle
    @hook_impl
    def after_context_created(self, context) -> None:
        config = _tracking_config(context)
        self._settings = tracking_settings(config).resolved(Path(context.project_path))
        self._context = context

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._parent, self._children, self._client = None, {}, None
        self._snapshot_logged = set()
        self._catalog = catalog
        settings = self._settings
        if settings is None or not settings.active:
            if settings is not None and settings.enabled and not settings.uri:
                logger.info(
                    "MLflow tracking is off: no tracking URI for env '%s' (set "
                    "MLFLOW_TRACKING_URI, see docs/aws.md).",
                    run_params.get("env"),
                )
            return
        self._safely("starting the run", self._start, run_params)

    @hook_impl
    def before_node_run(self, node, catalog, inputs) -> None:
        algorithm = _algorithm_of(node)
        if self._client is None or algorithm is None:
            return
        self._safely("starting a nested run", self._child, algorithm)
        snapshot = inputs.get(SNAPSHOT)
        if snapshot is not None and algorithm not in self._snapshot_logged:
            self._snapshot_logged.add(algorithm)
            self._safely(
                "recording the snapshot", self._log_snapshot, algorithm, snapshot
            )

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs) -> None:
        if self._client is None:
            return
        algorithm = _algorithm_of(node)
        if algorithm is not None:
            self._safely(
                f"recording {node.name}", self._log_node, algorithm, node, outputs
            )
        elif PROMOTION_RECORD in outputs:
            record = outputs[PROMOTION_RECORD]
            self._safely(
                "mirroring the promotion", self._mirror, record["algorithm"], None
            )

    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node) -> None:
        if self._client is None:
            return
        if dataset_name in REPORTS:
            self._safely(
                "recording the report",
                self._client.log_text,
                self._parent,
                data,
                REPORTS[dataset_name],
            )
            return
        algorithm, _, rest = dataset_name.partition(".")
        if algorithm in ALGORITHMS and rest == "model_registry@bundle":
            self._safely("mirroring the registration", self._mirror, algorithm, data)

    @hook_impl
    def on_node_error(self, error, node, catalog, inputs, is_async) -> None:
        algorithm = _algorithm_of(node)
        if self._client is not None and algorithm in self._children:
            self._safely(
                "recording the failure",
                self._client.set_terminated,
                self._children.pop(algorithm),
                "FAILED",
            )

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._finish("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._finish("FAILED")

    # ---------------------------------------------------------------- MLflow calls
    def _safely(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``; on any error, one warning and no more tracking in this run."""
        try:
            return call(*args)
        except Exception as exc:  # tracking must never fail a training
            uri = self._settings.uri if self._settings else "?"
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            logger.warning(
                "MLflow tracking at %s failed while %s (%s); this run goes on without "
                "tracking and its models are registered as usual (the next tracked run "
                "mirrors them). Check the server or set %s=off.",
                uri,
                what,
                first_line[:300],
                SWITCH,
            )
            self._client = None
            return None

    def _start(self, run_params: Mapping[str, Any]) -> None:
        # MLflow's own log handler would print its lines in another format, past
        # conf/logging.yml; without it they go through the project's logging.
        os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
        import mlflow

        settings = self._settings
        if settings.uri.startswith(("http://", "https://")):
            for name, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            _check_server(settings.uri, settings.server_timeout_seconds)
        elif settings.uri.startswith("sqlite:///"):
            Path(settings.uri[len("sqlite:///") :]).parent.mkdir(
                parents=True, exist_ok=True
            )
        mlflow.set_tracking_uri(settings.uri)
        client = mlflow.MlflowClient(tracking_uri=settings.uri)
        experiment = client.get_experiment_by_name(settings.experiment)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(
                settings.experiment,
                artifact_location=settings.artifact_location,
                # Model training, not GenAI: the UI opens the experiment on its runs.
                tags={"mlflow.experimentKind": "custom_model_development"},
            )
        )
        pipelines = run_params.get("pipeline_names") or ["__default__"]
        run = client.create_run(
            experiment_id,
            run_name=f"kedro run {','.join(pipelines)}",
            tags={
                "kedro.pipeline": ",".join(pipelines),
                "kedro.env": _env_name(self._context),
                "kedro.session_id": str(run_params.get("run_id")),
                "kedro.runtime_params": str(run_params.get("runtime_params") or {}),
            },
        )
        self._client, self._experiment_id = client, experiment_id
        self._parent = run.info.run_id
        _log_params(
            client, self._parent, records.run_params(_with_defaults(self._context))
        )

    def _child(self, algorithm: str) -> None:
        if algorithm in self._children:
            return
        run = self._client.create_run(
            self._experiment_id,
            run_name=algorithm,
            tags={"mlflow.parentRunId": self._parent, "algorithm": algorithm},
        )
        self._children[algorithm] = run.info.run_id
        parameters = _with_defaults(self._context)
        _log_params(
            self._client,
            run.info.run_id,
            {
                **records.run_params(parameters),
                **records.algorithm_params(parameters, algorithm),
            },
        )

    def _log_snapshot(self, algorithm: str, snapshot: Any) -> None:
        tags = {
            "snapshot_id": str(snapshot.snapshot_id),
            **records.gold_versions(snapshot.metadata),
        }
        for run_id in (self._children[algorithm], self._parent):
            for key, value in tags.items():
                self._client.set_tag(run_id, key, value)

    def _log_node(self, algorithm: str, node: Any, outputs: Mapping[str, Any]) -> None:
        run_id = self._children.get(algorithm)
        if run_id is None:
            return
        name = node.name.rsplit(".", 1)[-1]
        output = outputs.get(f"{algorithm}.{_OUTPUT_OF.get(name, '')}")
        if output is None:
            return
        if name == "tune_hyperparameters":
            self._client.log_metric(run_id, "cv_score", float(output["cv_score"]))
            _log_params(
                self._client,
                run_id,
                records.flat_params(output["best_params"], "best."),
            )
            table = records.candidates_table(output.get("candidates") or [])
            if not table.empty:
                self._client.log_table(run_id, table, "search_candidates.json")
        elif name == "evaluate_windows":
            _log_metrics(self._client, run_id, records.window_metrics(output))
        elif name == "assess_trust":
            intervals = records.window_metrics({}, output.get("intervals"))
            _log_metrics(
                self._client,
                run_id,
                {k: v for k, v in intervals.items() if "_ci_" in k},
            )
        elif name == "draw_evaluation_plots":
            for file_name, figure in output.items():
                self._client.log_figure(run_id, figure, f"plots/{file_name}")

    def _mirror(self, algorithm: str, bundle: Mapping[str, Any] | None) -> None:
        registry = self._catalog.get(f"{algorithm}.model_registry@bundle")
        history = self._catalog.get(f"{algorithm}.model_registry@history").load()
        run_id = self._children.get(algorithm)
        newest = history.get("newest") or {}
        ours = (
            bundle is not None
            and newest.get("training_date") == bundle["metadata"].get("training_date")
            and newest.get("snapshot_id") == bundle["metadata"].get("snapshot_id")
        )
        if ours and run_id is not None:
            self._client.set_tag(run_id, "registry_version_id", newest["version_id"])
            card = bundle.get("model_card")
            if card is not None:
                stamped = stamp_model_card(
                    card.encode() if isinstance(card, str) else card, newest
                )
                self._client.log_text(run_id, stamped.decode(), "model_card.md")

        def run_id_of(version_id: str) -> str | None:
            return run_id if ours and version_id == newest.get("version_id") else None

        result = mirror_registry(
            self._client,
            history,
            registry.load_version,
            lambda model, metadata: _log_model(model, metadata, run_id or self._parent),
            run_id_of,
        )
        logger.info(
            "MLflow: %s mirrors %d registry version(s)%s; alias champion -> %s.",
            result["name"],
            len(history.get("versions") or []),
            f" ({len(result['registered'])} new)" if result["registered"] else "",
            f"version {result['champion']} ({history.get('champion')})"
            if result["champion"]
            else "none",
        )

    def _finish(self, status: str) -> None:
        if self._client is None or self._parent is None:
            return
        for run_id in self._children.values():
            self._safely(
                "ending a nested run", self._client.set_terminated, run_id, status
            )
        if self._client is not None:
            self._safely(
                "ending the run", self._client.set_terminated, self._parent, status
            )
        self._client, self._parent, self._children = None, None, {}


#: The template node whose output each record comes from (names without the namespace).
_OUTPUT_OF = {
    "tune_hyperparameters": "tuned_model",
    "evaluate_windows": "evaluation_metrics",
    "assess_trust": "trust_assessment",
    "draw_evaluation_plots": "evaluation_plots",
}


def _algorithm_of(node: Any) -> str | None:
    namespace = (node.namespace or "").split(".")[0]
    return namespace if namespace in ALGORITHMS else None


def _with_defaults(context: Any) -> dict[str, Any]:
    """The run's parameters, ``training_config`` with the defaults it ran with (calibration,
    threshold rule, ...) filled in, as the nodes see it."""
    parameters = dict(context.params)
    parameters["training_config"] = TrainingConfig.model_validate(
        parameters.get("training_config") or {}
    ).model_dump(mode="json")
    return parameters


def _env_name(context: Any) -> str:
    """``--env``, or the configuration loader's default run env (``local``)."""
    loader = context.config_loader
    return str(context.env or getattr(loader, "default_run_env", None) or "local")


def _tracking_config(context: Any) -> dict[str, Any]:
    try:
        return context.config_loader["tracking"]
    except (
        KeyError
    ):  # no tracking*.yml in conf/base nor the env: defaults (tracking off)
        return {}


def _check_server(uri: str, timeout: float) -> None:
    import requests

    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=timeout).raise_for_status()
    except requests.RequestException as exc:
        raise TrackingUnavailable(
            f"no answer from {uri}/health within {timeout:g} s: {type(exc).__name__}"
        ) from exc


def _log_params(client: Any, run_id: str, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow's batch limit
        client.log_batch(run_id, params=items[start : start + 100])


def _log_metrics(client: Any, run_id: str, metrics: Mapping[str, float]) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, v, now, 0) for k, v in metrics.items()]
    for start in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[start : start + 1000])


def _log_model(model: Any, metadata: Mapping[str, Any], run_id: str) -> Any:
    """The registered model.pkl logged to MLflow as a scikit-learn model of ``run_id``."""
    import mlflow.sklearn
    from mlflow.models import Model

    versions = metadata.get("library_versions") or {}
    requirements = [
        f"{name}=={versions[name]}"
        for name in ("scikit-learn", "xgboost")
        if versions.get(name) not in (None, "not installed")
    ]
    quiet = logging.getLogger("mlflow.sklearn")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its advice on pickle: model.pkl is pickled already
    try:
        return Model.log(
            artifact_path=None,
            name="model",
            flavor=mlflow.sklearn,
            run_id=run_id,
            sk_model=model,
            serialization_format="pickle",
            signature=model_signature(model),
            pip_requirements=requirements,
            pyfunc_predict_fn="predict_proba",
            tags={"registry_version_id": str(metadata.get("version_id"))},
        )
    finally:
        quiet.setLevel(level)
