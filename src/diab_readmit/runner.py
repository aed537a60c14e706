"""A sequential runner that keeps going when a branch fails, and says so at the end.

``kedro run`` trains three algorithms in one process. With Kedro's ``SequentialRunner`` an
error in the random forest would stop the run before XGBoost is trained and registered. This
runner instead:

- runs one node at a time (the searches already use every core), finishing a namespace
  before starting the next, so each algorithm registers as early as possible and only one
  algorithm's data and models are in memory at a time;
- when a node fails, records the error, skips every node that depends on it, and carries on
  with the nodes that do not;
- at the end logs one summary line per namespace (succeeded / failed with the error / skipped)
  and Kedro's suggestion of how to resume, and raises if anything failed: the failed node's
  own exception when there was one failure, ``NodeFailuresError`` listing all of them
  otherwise, so ``kedro run`` exits non-zero.

A node tagged ``RUNS_AFTER_UPSTREAM_FAILURE`` (e.g. a report over every algorithm's registry)
still runs after an upstream failure, once everything it depends on has finished or been
skipped; its inputs come from the catalog as usual (a registry holds earlier versions).

How: the nodes are cut into runs of one namespace, in an order that finishes a namespace
before the next (``namespace_segments``), and each run goes through Kedro's own sequential
loop (``AbstractRunner._run``: its node and catalog validation, the Task of each node, the
release of datasets no longer needed). When a node fails there, Kedro reports the nodes that
finished before it (``_suggest_resume_scenario``); the rest of that namespace, without the
failed node's dependants, goes through the loop again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner, SequentialRunner

from diab_readmit.errors import user_fixable_cause

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.io import CatalogProtocol
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

RUNS_AFTER_UPSTREAM_FAILURE = "runs_after_upstream_failure"


class NodeFailuresError(RuntimeError):
    """More than one node failed; the message is the run summary."""

    def __init__(self, summary: str, errors: list[BaseException]) -> None:
        super().__init__(summary)
        #: Each failed node's error, in the order they failed.
        self.errors = errors


def _branch(node: Node) -> str:
    """The top-level namespace a node belongs to ("" for nodes without one)."""
    return (node.namespace or "").split(".")[0]


def namespace_segments(pipeline: Pipeline) -> list[list[Node]]:
    """``pipeline``'s nodes as runs of one top-level namespace, to run one after another.

    A run starts with the earliest node not yet placed in topological order (everything it
    depends on is placed) and takes every node of its namespace that becomes ready.
    """
    dependencies = pipeline.node_dependencies
    todo = list(pipeline.nodes)  # topologically sorted
    placed: set[Node] = set()
    segments = []
    while todo:
        branch, segment = _branch(todo[0]), []
        while ready := [
            n for n in todo if _branch(n) == branch and dependencies[n] <= placed
        ]:
            segment += ready
            placed.update(ready)
            todo = [n for n in todo if n not in placed]
        segments.append(segment)
    return segments


class FailureIsolatingRunner(SequentialRunner):
    """``SequentialRunner`` that isolates failures to the nodes depending on them."""

    #: The nodes Kedro's loop finished before a node failed (see _suggest_resume_scenario).
    _finished: set[Node] | None = None

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        dependencies = pipeline.node_dependencies
        done: set[Node] = set()
        failed: dict[Node, BaseException] = {}
        # A node that did not run -> the failed node it depends on (a failed node: itself).
        cause: dict[Node, Node] = {}
        for segment in namespace_segments(pipeline):
            part = self._runnable(segment, dependencies, cause, failed)
            while part.nodes:
                self._finished = None
                try:
                    # Kedro's loop itself: SequentialRunner._run adds only a hint about
                    # --async, which would be logged again for every namespace.
                    AbstractRunner._run(self, part, catalog, hook_manager, run_id)
                except Exception as error:
                    if self._finished is None:  # not a node's failure: Kedro's checks
                        raise
                    node = next(n for n in part.nodes if n not in self._finished)
                    done |= self._finished
                    failed[node], cause[node] = error, node
                    # The traceback is shown once, at the end (see _report), not twice;
                    # a user-fixable error's message is printed once, at the very end.
                    if user_fixable_cause(error) is None:
                        logger.error(
                            "Node %s failed: %s: %s",
                            node.name,
                            type(error).__name__,
                            error,
                        )
                    rest = [n for n in part.nodes if n not in self._finished | {node}]
                    part = self._runnable(rest, dependencies, cause, failed)
                else:
                    done.update(part.nodes)
                    break
        if any(user_fixable_cause(e) is None for e in failed.values()):
            # A user-fixable error is fixed and the command run again, not resumed.
            super()._suggest_resume_scenario(pipeline, done, catalog)
        self._report(pipeline.nodes, failed, cause)

    def _suggest_resume_scenario(
        self, pipeline: Pipeline, done_nodes: Iterable[Node], catalog: CatalogProtocol
    ) -> None:
        """Called by Kedro's loop when a node fails, with the nodes that finished before it.

        The run goes on, so this only remembers them; the suggestion of how to resume is
        given once, for the whole run, before the summary.
        """
        self._finished = set(done_nodes)

    @staticmethod
    def _runnable(
        nodes: list[Node],
        dependencies: dict[Node, set[Node]],
        cause: dict[Node, Node],
        failed: dict[Node, BaseException],
    ) -> Pipeline:
        """``nodes`` without those depending on a failed node, which are skipped."""
        kept = []
        for node in Pipeline(nodes).nodes:  # parents before children
            failure = next((cause[p] for p in dependencies[node] if p in cause), None)
            if failure is None or RUNS_AFTER_UPSTREAM_FAILURE in node.tags:
                kept.append(node)
                continue
            cause[node] = failure
            # After a user-fixable error the run ends with its message and nothing else
            # to read; after another, the skipped nodes help whoever reads the traceback.
            fixable = user_fixable_cause(failed.get(failure)) is not None
            logger.log(
                logging.DEBUG if fixable else logging.WARNING,
                "Skipping node %s: it depends on failed node %s",
                node.name,
                failure.name,
            )
        return Pipeline(kept)

    @staticmethod
    def _report(
        nodes: list[Node], failed: dict[Node, BaseException], cause: dict[Node, Node]
    ) -> None:
        if not failed:
            return
        errors = list(failed.items())
        branches = list(dict.fromkeys(_branch(n) for n in nodes))
        if len(branches) > 1:
            logger.error("Run summary:\n%s", _summary(nodes, failed, cause, branches))
        if len(errors) == 1:
            raise errors[0][1]
        # The first error's traceback is printed as the cause; the others' are logged here.
        for node, error in errors[1:]:
            if user_fixable_cause(error) is None:
                logger.error("Traceback of %s:", node.name, exc_info=error)
        raise NodeFailuresError(
            _summary(nodes, failed, cause, branches), [e for _, e in errors]
        ) from errors[0][1]


def _summary(
    nodes: list[Node],
    failed: dict[Node, BaseException],
    cause: dict[Node, Node],
    branches: list[str],
) -> str:
    """One line per namespace: succeeded, FAILED (with the error) or SKIPPED.

    A user-fixable error is printed in full at the end of the run (hooks.ConciseUserErrors),
    so here it is only named.
    """
    lines = []
    for branch in branches:
        members = [n for n in nodes if _branch(n) == branch]
        name = branch or "(no namespace)"
        errors = [(n, failed[n]) for n in members if n in failed]
        skipped_here = [n for n in members if n in cause and n not in failed]
        if errors:
            details = "; ".join(
                f"{n.name}: "
                + (
                    "see the error below"
                    if user_fixable_cause(e) is not None
                    else f"{type(e).__name__}: {e}"
                )
                for n, e in errors
            )
            lines.append(f"  {name}: FAILED ({details})")
        elif skipped_here:
            causes = sorted({cause[n].name for n in skipped_here})
            lines.append(f"  {name}: SKIPPED (depends on failed {', '.join(causes)})")
        else:
            lines.append(f"  {name}: succeeded")
    return (
        f"{len(failed)} node(s) failed; everything not depending on them ran.\n"
        + "\n".join(lines)
    )
