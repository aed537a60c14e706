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
  and raises if anything failed: the failed node's own exception when there was one failure,
  ``NodeFailuresError`` listing all of them otherwise, so ``kedro run`` exits non-zero.

A node tagged ``RUNS_AFTER_UPSTREAM_FAILURE`` (e.g. a report over every algorithm's registry)
still runs after an upstream failure, once everything it depends on has finished or been
skipped; its inputs come from the catalog as usual (a registry holds earlier versions).
"""

from __future__ import annotations

import logging
from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING

from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from diab_readmit.hooks import user_fixable_cause

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

RUNS_AFTER_UPSTREAM_FAILURE = "runs_after_upstream_failure"


class NodeFailuresError(RuntimeError):
    """More than one node failed; the message is the run summary."""


def _branch(node: Node) -> str:
    """The top-level namespace a node belongs to ("" for nodes without one)."""
    return (node.namespace or "").split(".")[0]


class FailureIsolatingRunner(SequentialRunner):
    """``SequentialRunner`` that isolates failures to the nodes depending on them."""

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        nodes = pipeline.nodes  # topologically sorted
        order = {node: index for index, node in enumerate(nodes)}
        dependencies = pipeline.node_dependencies
        dependants: dict[Node, set[Node]] = {node: set() for node in nodes}
        for node, parents in dependencies.items():
            for parent in parents:
                dependants[parent].add(node)
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))

        done: set[Node] = set()
        failed: dict[Node, BaseException] = {}
        skipped: dict[Node, Node] = {}  # skipped node -> the failed node it depended on
        todo = set(nodes)
        current_branch: str | None = None

        while todo:
            ready = [
                n
                for n in todo
                if self._is_ready(n, dependencies[n], done, failed, skipped)
            ]
            if not ready:  # pragma: no cover - a DAG always has a ready node
                raise RuntimeError(
                    f"No runnable node among {sorted(n.name for n in todo)}"
                )
            # Stay on the branch in progress; otherwise the earliest node in topological order.
            node = min(ready, key=lambda n: (_branch(n) != current_branch, order[n]))
            todo.discard(node)
            current_branch = _branch(node)
            try:
                Task(
                    node=node,
                    catalog=catalog,
                    hook_manager=hook_manager,
                    is_async=self._is_async,
                    run_id=run_id,
                ).execute()
            except Exception as error:  # noqa: BLE001 - recorded, reported and re-raised below
                failed[node] = error
                # The traceback is shown once, at the end (see _report), not twice.
                logger.error(
                    "Node %s failed: %s: %s", node.name, type(error).__name__, error
                )
                for dependant in self._downstream(node, dependants):
                    if (
                        dependant in todo
                        and RUNS_AFTER_UPSTREAM_FAILURE not in dependant.tags
                    ):
                        todo.discard(dependant)
                        skipped[dependant] = node
                        self._release_datasets(
                            dependant, catalog, load_counts, pipeline
                        )
                        logger.warning(
                            "Skipping node %s: it depends on failed node %s",
                            dependant.name,
                            node.name,
                        )
            else:
                done.add(node)
                logger.info("Completed %d out of %d tasks", len(done), len(nodes))
            self._release_datasets(node, catalog, load_counts, pipeline)

        self._report(nodes, failed, skipped)

    @staticmethod
    def _is_ready(
        node: Node,
        parents: set[Node],
        done: set[Node],
        failed: dict[Node, BaseException],
        skipped: dict[Node, Node],
    ) -> bool:
        if RUNS_AFTER_UPSTREAM_FAILURE in node.tags:
            return all(p in done or p in failed or p in skipped for p in parents)
        return parents <= done

    @staticmethod
    def _downstream(node: Node, dependants: dict[Node, set[Node]]) -> set[Node]:
        found: set[Node] = set()
        stack = [node]
        while stack:
            for child in dependants[stack.pop()]:
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    @staticmethod
    def _report(
        nodes: list[Node], failed: dict[Node, BaseException], skipped: dict[Node, Node]
    ) -> None:
        if not failed:
            return
        lines = []
        for branch in dict.fromkeys(_branch(n) for n in nodes):
            members = [n for n in nodes if _branch(n) == branch]
            name = branch or "(no namespace)"
            errors = [(n, failed[n]) for n in members if n in failed]
            skipped_here = [n for n in members if n in skipped]
            if errors:
                details = "; ".join(
                    f"{n.name}: {type(e).__name__}: {e}" for n, e in errors
                )
                lines.append(f"  {name}: FAILED ({details})")
            elif skipped_here:
                causes = sorted({skipped[n].name for n in skipped_here})
                lines.append(
                    f"  {name}: SKIPPED (depends on failed {', '.join(causes)})"
                )
            else:
                lines.append(f"  {name}: succeeded")
        summary = (
            f"{len(failed)} node(s) failed; everything not depending on them ran.\n"
            + "\n".join(lines)
        )
        logger.error("Run summary:\n%s", summary)
        errors = list(failed.items())
        if len(errors) == 1:
            raise errors[0][1]
        # The first error's traceback is printed as the cause; the others' are logged here.
        for node, error in errors[1:]:
            if user_fixable_cause(error) is None:
                logger.error("Traceback of %s:", node.name, exc_info=error)
        raise NodeFailuresError(summary) from errors[0][1]
