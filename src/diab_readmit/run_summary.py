"""The lines a run ends with: what it registered, the best model, where the results are.

Kedro ends a run with "Pipeline execution completed successfully in N sec." and nothing
about what was produced. ``RunSummary`` watches the datasets a run saves and, once the run
is over (also after a failure, when other algorithms still registered), logs::

    Registered 3 model versions:
      logistic_regression v20261201_120301  test ROC-AUC 0.6723  OOT ROC-AUC 0.6890  data/06_models/model_registry/logistic_regression/v20261201_120301
      ...
    Best model (test ROC-AUC, as in the report): xgboost v20261201_120410, test ROC-AUC 0.6784, OOT ROC-AUC 0.7098
    Report: data/08_reporting/model_comparison.html

and a run of ``batch`` (``inference`` and ``monitoring``, the end of ``make run``)::

    Champions: logistic_regression v20261201_120301 (test ROC-AUC 0.6723), …
    Scoring with the champion xgboost v20261201_120410 (test ROC-AUC 0.6784)
    Scored 2009-01.csv: 832 encounters, 96 flagged (12%)
    Monitoring: ALERT
      2009-01: 2 model input(s) drifted to PSI >= 0.25 (alert): age_midpoint (PSI 0.35), …
    Report: data/08_reporting/monitoring/monitoring_report.html
    Report: data/08_reporting/model_comparison.html

The best model is the comparison table's ``best`` row when the run wrote the report (the
same choice the report makes); otherwise the best of the versions this run registered.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl

from diab_readmit.number_format import as_float, format_number

logger = logging.getLogger(__name__)

REGISTRY_SUFFIX = ".model_registry@bundle"
HISTORY_SUFFIX = ".model_registry@history"
COMPARISON_TABLE = "reporting.model_comparison"
HTML_REPORT = "reporting.comparison_report_html"
MARKDOWN_REPORT = "reporting.comparison_report_md"
CHAMPION = "inference.champion"
CHAMPIONS = "inference.champions"
PREDICTIONS = "inference.predictions"
MONITORING_STATUS = "monitoring.status"
MONITORING_REPORT = "monitoring.report_html"
#: Reasons shown in the closing lines; the rest are in monitoring_status.json.
SHOWN_REASONS = 3


@dataclass
class RegisteredVersion:
    """One version this run registered, as its metadata.json describes it."""

    algorithm: str
    version_id: str
    test_auc: float
    oot_auc: float
    location: str
    #: The champion gate's decision: promoted (now latest/), rejected or held.
    decision: str = "promoted"

    def line(self) -> str:
        gate = (
            "" if self.decision == "promoted" else f"  [{self.decision}: not latest/]"
        )
        return (
            f"  {self.algorithm} {self.version_id}{gate}  test ROC-AUC {format_number(self.test_auc)}  "
            f"OOT ROC-AUC {format_number(self.oot_auc)}  {self.location}"
        )


@dataclass(eq=False)  # hashable by identity, as pluggy needs of a hook object
class RunSummary:
    """Kedro hooks collecting the run's registrations and reports, logged at the end."""

    registered: list[RegisteredVersion] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    comparison: pd.DataFrame | None = None
    #: Batch scoring and monitoring: what scored, what was scored, how monitoring ended.
    champions: list[str] = field(default_factory=list)
    scoring: list[str] = field(default_factory=list)
    monitoring: list[str] = field(default_factory=list)
    _catalog: Any = None
    _known_versions: dict[str, set[str] | None] = field(default_factory=dict)

    @hook_impl
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        self.registered, self.reports, self.comparison = [], [], None
        self.champions, self.scoring, self.monitoring = [], [], []
        self._catalog = catalog
        self._known_versions = {}
        for name in pipeline.all_outputs():
            if name.endswith(REGISTRY_SUFFIX):
                algorithm = name.removesuffix(REGISTRY_SUFFIX)
                try:
                    self._known_versions[algorithm] = set(
                        self._history(algorithm).committed_versions()
                    )
                except Exception:  # the summary must never be why a run fails
                    # An unreadable registry (missing bucket, no access) fails the run's own
                    # registration with the error that explains it; the summary stays silent.
                    self._known_versions[algorithm] = None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if dataset_name.endswith(REGISTRY_SUFFIX):
            self._record_registration(dataset_name.removesuffix(REGISTRY_SUFFIX))
        elif dataset_name == COMPARISON_TABLE and isinstance(data, pd.DataFrame):
            self.comparison = data
        elif dataset_name in (HTML_REPORT, MARKDOWN_REPORT, MONITORING_REPORT):
            self.reports.append(self._location(dataset_name))
        elif dataset_name == CHAMPION and isinstance(data, dict):
            self.champions.append(champion_line(data))
        elif dataset_name == PREDICTIONS and isinstance(data, pd.DataFrame):
            self.scoring += scored_lines(data)
        elif dataset_name == MONITORING_STATUS and isinstance(data, dict):
            self.monitoring = status_lines(data)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name == CHAMPIONS and isinstance(data, dict) and data:
            self.champions = [champions_line(data)]

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._log()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._log()

    # ---------------------------------------------------------------- internals
    def _history(self, algorithm: str) -> Any:
        return self._catalog.get(f"{algorithm}{HISTORY_SUFFIX}")

    def _record_registration(self, algorithm: str) -> None:
        known = self._known_versions.get(algorithm)
        if known is None:
            return
        history = self._history(algorithm).load()
        # The newest version is the one just registered, whether or not the gate promoted it.
        newest = history.get("newest") or history.get("latest") or {}
        version_id = newest.get("version_id")
        if not version_id or version_id in known:
            return
        performance = newest.get("performance") or {}
        registry = (
            self._catalog.get(f"{algorithm}{HISTORY_SUFFIX}")
            ._describe()
            .get("path", "")
        )
        self.registered.append(
            RegisteredVersion(
                algorithm=algorithm,
                version_id=version_id,
                test_auc=as_float((performance.get("test") or {}).get("auc_roc")),
                oot_auc=as_float((performance.get("oot") or {}).get("auc_roc")),
                location=f"{registry}/{version_id}",
                decision=(newest.get("gate") or {}).get("decision", "promoted"),
            )
        )

    def _comparison_report_exists(self) -> bool:
        try:
            return bool(self._catalog.exists(HTML_REPORT))
        except Exception:  # the summary must never be why a run fails
            return False

    def _location(self, dataset_name: str) -> str:
        described = self._catalog.get(dataset_name)._describe()
        return str(described.get("filepath") or described.get("path") or dataset_name)

    def _log(self) -> None:
        if not (self.registered or self.reports or self.scoring or self.monitoring):
            return
        lines = []
        if self.registered:
            count = len(self.registered)
            lines.append(
                f"Registered {count} model version{'s' if count != 1 else ''}:"
            )
            lines += [version.line() for version in self.registered]
        best = self._best()
        if best:
            lines.append(best)
        lines += self.champions + self.scoring + self.monitoring
        reports = list(self.reports)
        if (self.scoring or self.monitoring) and self._comparison_report_exists():
            reports.append(
                self._location(HTML_REPORT)
            )  # `make run`'s other page to open
        lines += [f"Report: {path}" for path in reports]
        logger.info("\n".join(lines))

    def _best(self) -> str | None:
        if self.comparison is not None and "best" in self.comparison:
            rows = self.comparison[self.comparison["best"].astype(bool)]
            if not rows.empty:
                row = rows.iloc[0]
                return (
                    f"Best model (as in the report): {row['algorithm']} {row['version_id']}, "
                    f"test ROC-AUC {format_number(row.get('test_auc_roc'))}, "
                    f"OOT ROC-AUC {format_number(row.get('oot_auc_roc'))}"
                )
        scored = [v for v in self.registered if not math.isnan(v.test_auc)]
        if len(scored) < 2:
            return None
        top = max(scored, key=lambda v: v.test_auc)
        return (
            f"Best of this run on test ROC-AUC: {top.algorithm} {top.version_id}, "
            f"test ROC-AUC {format_number(top.test_auc)}, OOT ROC-AUC {format_number(top.oot_auc)}"
        )


def champions_line(champions: dict[str, Any]) -> str:
    """``Champions: logistic_regression v… (test ROC-AUC 0.7345), …``: every algorithm's
    ``latest/``, what the registry holds after the runs before this one."""
    parts = []
    for algorithm, champion in champions.items():
        metadata = getattr(champion, "metadata", None) or {}
        test = (metadata.get("performance") or {}).get("test") or {}
        parts.append(
            f"{algorithm} {metadata.get('version_id', '?')} "
            f"(test ROC-AUC {format_number(test.get('auc_roc'))})"
        )
    return f"Champions: {', '.join(parts)}"


def champion_line(champion: dict[str, Any]) -> str:
    """``Scoring with the champion xgboost v… (test ROC-AUC 0.7348)``."""
    test = ((champion.get("metadata") or {}).get("performance") or {}).get("test") or {}
    return (
        f"Scoring with the champion {champion.get('algorithm')} "
        f"{champion.get('version_id')} (test ROC-AUC {format_number(test.get('auc_roc'))})"
    )


def scored_lines(predictions: pd.DataFrame) -> list[str]:
    """One line per extract this run scored: encounters and how many were flagged."""
    if predictions.empty or "extract" not in predictions:
        return ["Scored nothing new: every extract was already scored by the champion"]
    lines = []
    for name, rows in predictions.groupby("extract", sort=False):
        flagged = int(rows["flagged"].sum()) if "flagged" in rows else 0
        lines.append(
            f"Scored {name}: {len(rows):,} encounters, {flagged:,} flagged "
            f"({flagged / max(len(rows), 1):.0%})"
        )
    return lines


def status_lines(status: dict[str, Any]) -> list[str]:
    """``Monitoring: ALERT`` and its first reasons, one line each."""
    reasons = list(status.get("reasons") or [])
    lines = [f"Monitoring: {str(status.get('status', '?')).upper()}"]
    lines += [f"  {reason}" for reason in reasons[:SHOWN_REASONS]]
    if len(reasons) > SHOWN_REASONS:
        lines.append(
            f"  … {len(reasons) - SHOWN_REASONS} more in monitoring_status.json"
        )
    return lines
