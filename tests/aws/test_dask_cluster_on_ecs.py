"""airflow/dags/diab_dask_cluster.py on moto's ECS (127.0.0.1), without Airflow: the scheduler's
address from a realistic DescribeTasks payload, a cluster of more workers than one RunTask
call starts, stopping by ``startedBy``, and a start that fails half-way stopping what it
started.

moto runs no containers: here a task stays RUNNING until it is stopped, except worker tasks
in the test that makes workers crash.
"""

from __future__ import annotations

import importlib.util
import json
import re
import string
import sys

import pytest

from diab_readmit.ecs_stages import DASK_TASK
from tests.aws.loopback_aws import REGION, loopback_aws
from tests.conftest import PROJECT

_spec = importlib.util.spec_from_file_location(
    "diab_dask_cluster", PROJECT / "airflow" / "dags" / "diab_dask_cluster.py"
)
cluster_module = importlib.util.module_from_spec(_spec)
# dataclasses look their module up in sys.modules (Airflow imports it from the DAGs folder)
sys.modules.setdefault("diab_dask_cluster", cluster_module)
_spec.loader.exec_module(cluster_module)

#: What DescribeTasks returns for a RUNNING Fargate task in awsvpc mode (trimmed).
FARGATE_TASK = {
    "taskArn": "arn:aws:ecs:ap-southeast-1:123456789012:task/diab/0f1e2d3c4b5a",
    "lastStatus": "RUNNING",
    "launchType": "FARGATE",
    "attachments": [
        {
            "id": "a1b2c3d4-0000-1111-2222-333344445555",
            "type": "ElasticNetworkInterface",
            "status": "ATTACHED",
            "details": [
                {"name": "subnetId", "value": "subnet-0abc"},
                {"name": "networkInterfaceId", "value": "eni-0123456789abcdef0"},
                {"name": "macAddress", "value": "0a:1b:2c:3d:4e:5f"},
                {
                    "name": "privateDnsName",
                    "value": "ip-10-0-1-23.ap-southeast-1.compute.internal",
                },
                {"name": "privateIPv4Address", "value": "10.0.1.23"},
            ],
        }
    ],
    "containers": [
        {
            "name": "diab-readmit",
            "lastStatus": "RUNNING",
            "networkInterfaces": [
                {
                    "attachmentId": "a1b2c3d4-0000-1111-2222-333344445555",
                    "privateIpv4Address": "10.0.1.23",
                }
            ],
        }
    ],
}


def test_private_ip_comes_from_the_eni_attachment_else_the_container():
    assert cluster_module.private_ip(FARGATE_TASK) == "10.0.1.23"
    only_container = {**FARGATE_TASK, "attachments": []}
    assert cluster_module.private_ip(only_container) == "10.0.1.23"
    # PROVISIONING: ECS has created the attachment but not given it an address yet
    provisioning = {
        "attachments": [
            {
                "type": "ElasticNetworkInterface",
                "status": "PRECREATED",
                "details": [{"name": "subnetId", "value": "subnet-0abc"}],
            }
        ],
        "containers": [{"name": "diab-readmit", "lastStatus": "PENDING"}],
    }
    assert cluster_module.private_ip(provisioning) is None


def test_cluster_tag_is_stable_short_and_a_valid_started_by():
    tag = cluster_module.cluster_tag(
        "diab_data_processing", "manual__2026-12-02T16:30:15.123+00:00"
    )
    assert tag == cluster_module.cluster_tag(
        "diab_data_processing", "manual__2026-12-02T16:30:15.123+00:00"
    )
    assert tag != cluster_module.cluster_tag(
        "diab_data_processing", "manual__2026-12-02T16:30:16.123+00:00"
    )
    # ECS: up to 128 letters, digits, hyphens, forward slashes and underscores
    assert re.fullmatch(r"[A-Za-z0-9_/-]{1,128}", tag)


def test_a_worker_count_outside_1_to_100_names_the_variable():
    with pytest.raises(ValueError, match="diab_dask_workers"):
        _spec_for("c", "subnet-0", workers=0)


def _spec_for(cluster: str, subnet: str, workers: int):
    return cluster_module.FargateDaskCluster(
        cluster=cluster,
        task_definition=DASK_TASK,
        container="diab-readmit",
        network_configuration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [],
                "assignPublicIp": "DISABLED",
            }
        },
        workers=workers,
        poll_seconds=0.05,
        start_timeout_seconds=5,
    )


@pytest.fixture
def ecs_world(tmp_path, monkeypatch, request):
    """moto's ECS with the repo's Dask task definition, one subnet, one cluster of the
    test's own (moto keeps one state per process, across servers)."""
    from moto.ecs import models as ecs_models

    crashing_workers = {"on": False}

    def task_status(task) -> str:
        command = task.overrides.get("containerOverrides", [{}])[0].get("command", [])
        if crashing_workers["on"] and command[:1] == ["worker"]:
            return "STOPPED"
        return "RUNNING" if task.desired_status == "RUNNING" else "STOPPED"

    monkeypatch.setattr(
        ecs_models.Task, "last_status", property(task_status, lambda t, v: None)
    )
    with loopback_aws(tmp_path / "aws") as aws:
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"][
            "SubnetId"
        ]
        ecs = aws.client("ecs")
        cluster = re.sub(r"\W", "-", request.node.name)[:200]
        ecs.create_cluster(clusterName=cluster)
        text = (PROJECT / "deploy" / "ecs" / f"{DASK_TASK}.json").read_text()
        definition = json.loads(
            string.Template(text).substitute(
                AWS_ACCOUNT_ID="123456789012", AWS_REGION=REGION
            )
        )
        definition["containerDefinitions"][0]["memory"] = int(definition["memory"])
        ecs.register_task_definition(**definition)
        yield {
            "ecs": ecs,
            "cluster": cluster,
            "subnet": subnet,
            "crashing_workers": crashing_workers,
        }


def _all_tasks(ecs, cluster: str) -> list[dict]:
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
    ]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def test_start_then_stop_a_cluster_of_more_workers_than_one_run_task_starts(ecs_world):
    ecs = ecs_world["ecs"]
    spec = _spec_for(ecs_world["cluster"], ecs_world["subnet"], workers=12)
    tag = cluster_module.cluster_tag("dag", "run-1")
    address = cluster_module.start_cluster(ecs, spec, tag)

    tasks = _all_tasks(ecs, ecs_world["cluster"])
    assert len(tasks) == 13 and {t["startedBy"] for t in tasks} == {tag}
    commands = [t["overrides"]["containerOverrides"][0]["command"] for t in tasks]
    (scheduler,) = [t for t, c in zip(tasks, commands) if c[0] == "scheduler"]
    assert address == f"tcp://{cluster_module.private_ip(scheduler)}:8786"
    assert re.fullmatch(r"tcp://\d+\.\d+\.\d+\.\d+:8786", address)
    assert (
        sorted(c[:2] for c in commands if c[0] == "worker")
        == [["worker", address]] * 12
    )
    assert all(t["lastStatus"] == "RUNNING" for t in tasks)

    # another run's cluster on the same ECS cluster is not touched by this one's stop
    other = cluster_module.start_cluster(
        ecs,
        _spec_for(ecs_world["cluster"], ecs_world["subnet"], workers=1),
        "diab-dask-other",
    )
    assert other.startswith("tcp://")
    stopped = cluster_module.stop_cluster(ecs, ecs_world["cluster"], tag)
    assert sorted(stopped) == sorted(t["taskArn"] for t in tasks)
    assert cluster_module.stop_cluster(ecs, ecs_world["cluster"], tag) == []
    by_tag = {t["taskArn"]: t for t in _all_tasks(ecs, ecs_world["cluster"])}
    assert all(by_tag[arn]["lastStatus"] == "STOPPED" for arn in stopped)
    assert [
        t["lastStatus"] for t in by_tag.values() if t["startedBy"] == "diab-dask-other"
    ] == ["RUNNING"] * 2


def test_a_retried_start_stops_the_tasks_of_the_earlier_attempt(ecs_world):
    ecs = ecs_world["ecs"]
    spec = _spec_for(ecs_world["cluster"], ecs_world["subnet"], workers=2)
    tag = cluster_module.cluster_tag("dag", "run-2")
    cluster_module.start_cluster(ecs, spec, tag)
    cluster_module.start_cluster(ecs, spec, tag)
    tasks = _all_tasks(ecs, ecs_world["cluster"])
    assert len(tasks) == 6
    running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
    assert len(running) == 3, "one cluster per run, not two"
    assert {t["stoppedReason"] for t in tasks if t not in running} == {
        f"{tag}: restarted by a retry"
    }


def test_workers_that_crash_fail_the_start_and_nothing_is_left_running(ecs_world):
    ecs = ecs_world["ecs"]
    ecs_world["crashing_workers"]["on"] = True
    spec = _spec_for(ecs_world["cluster"], ecs_world["subnet"], workers=3)
    tag = cluster_module.cluster_tag("dag", "run-3")
    with pytest.raises(
        cluster_module.DaskClusterError,
        match=r"Dask worker task .* stopped before it ran",
    ):
        cluster_module.start_cluster(ecs, spec, tag)
    tasks = _all_tasks(ecs, ecs_world["cluster"])
    assert len(tasks) == 4
    assert all(t["lastStatus"] == "STOPPED" for t in tasks), [
        (t["overrides"]["containerOverrides"][0]["command"][0], t["lastStatus"])
        for t in tasks
    ]
