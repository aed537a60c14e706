"""NodeHeartbeat: a node silent for the interval gets a 'still running' line; a chatty one
gets none."""

from __future__ import annotations

import logging
import time

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from diab_readmit import heartbeat
from diab_readmit.heartbeat import NodeHeartbeat

chatty = logging.getLogger("diab_readmit.test_heartbeat")


def _silent(value):
    time.sleep(1.5)
    return value


def _chatty(value):
    for _ in range(8):
        chatty.info("working")
        time.sleep(0.1)
    return value


def _beats(function, caplog) -> list[str]:
    caplog.set_level(logging.INFO)
    hook = NodeHeartbeat(interval=0.3)
    hook.before_pipeline_run()
    node = Node(function, "source", "result", name="long_node")
    hook.before_node_run(node)
    try:
        SequentialRunner().run(
            Pipeline([node]), DataCatalog({"source": MemoryDataset(1)})
        )
    finally:
        hook.after_node_run(node)
        hook.after_pipeline_run()
    return [r.getMessage() for r in caplog.records if r.name == heartbeat.__name__]


def test_a_silent_node_is_reported_while_it_runs(caplog):
    beats = _beats(_silent, caplog)
    assert beats, "no heartbeat while a node was silent for 1.5 s (interval 0.3 s)"
    assert all(b.startswith("long_node: still running, ") for b in beats), beats
    assert len(beats) <= 5, beats


def test_a_node_that_logs_gets_no_heartbeat(caplog):
    assert _beats(_chatty, caplog) == []
