"""`kedro run --env aws --pipelines monitoring` against an S3 server on 127.0.0.1.

The stores it reads are put on S3 by the project's own datasets, as the earlier stages'
ECS tasks leave them: the gold stores, a registered model, and a drifted month scored by it
(``inference.predictions``, ``inference.scored_features``). The run must find everything
through conf/aws/globals.yml, write the status and the report to the datamart, and nothing
to local disk.
"""

from __future__ import annotations

import json

import pytest

from diab_readmit.datasets.delta_store import store_pair
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.datasets.table_pairs import start_new_run
from tests.aws.loopback_aws import REGION, loopback_aws
from tests.aws.test_kedro_on_s3 import run_on_s3
from tests.conftest import make_scratch_project
from tests.pipelines.monitoring.world import ALGORITHM, make_world, score

pytestmark = pytest.mark.slow

DATAMART = "diab-monitoring-datamart"
REGISTRY = "diab-monitoring-registry"


@pytest.fixture(scope="module")
def monitored_on_s3(tmp_path_factory):
    world = make_world(tmp_path_factory.mktemp("world"))
    project = make_scratch_project(tmp_path_factory.mktemp("aws-run") / "project")
    with loopback_aws(tmp_path_factory.mktemp("aws-config")) as aws:
        aws.create_buckets(DATAMART, REGISTRY)
        options = {
            "credentials": {"key": "testing", "secret": "testing"},
            "fs_args": {
                "client_kwargs": {"endpoint_url": aws.endpoint, "region_name": REGION}
            },
        }
        features, labels = store_pair(
            f"s3://{DATAMART}/gold/feature_store",
            f"s3://{DATAMART}/gold/label_store",
            **options,
        )
        start_new_run()
        features.save(world["feature_store"])
        labels.save(world["label_store"])
        registry = ModelRegistryDataset(path=f"s3://{REGISTRY}/{ALGORITHM}", **options)
        registry.save(world["bundle"]["registrable"])
        bundle = registry.load()
        month = world["drifted"]["gold"]
        # Committed as a pair, as one inference run writes them: the predictions last,
        # naming the scored-feature version that goes with them.
        scored_features, predictions = store_pair(
            f"s3://{DATAMART}/gold/scored_feature_store",
            f"s3://{DATAMART}/predictions",
            key="encounter_id",
            **options,
        )
        start_new_run()
        predictions.save(score(bundle, month))
        scored_features.save(month)
        output = run_on_s3(
            project,
            aws,
            "--pipelines",
            "monitoring",
            datamart=DATAMART,
            registry=REGISTRY,
        )
        written = {
            key: aws.read(DATAMART, f"reporting/monitoring/{key}")
            for key in ("monitoring_status.json", "monitoring_report.html", "drift.csv")
        }
        charts = aws.client("s3").list_objects_v2(
            Bucket=DATAMART, Prefix="reporting/monitoring/charts/"
        )
    return {
        "output": output,
        "written": written,
        "charts": [item["Key"] for item in charts.get("Contents", [])],
        "version": bundle["version_id"],
        "project": project,
    }


def test_the_status_on_s3_is_the_planted_drifts_alert(monitored_on_s3):
    status = json.loads(monitored_on_s3["written"]["monitoring_status.json"])
    assert status["status"] == "alert"
    assert {"age_midpoint", "admission_source_emergency_room"} <= set(
        status["alert_features"]
    )
    assert status["model"]["version_id"] == monitored_on_s3["version"]


def test_the_report_and_charts_land_in_the_datamart(monitored_on_s3):
    html = monitored_on_s3["written"]["monitoring_report.html"].decode()
    assert "age_midpoint" in html and 'class="status alert"' in html
    assert len(monitored_on_s3["charts"]) == 4
    assert b"age_midpoint" in monitored_on_s3["written"]["drift.csv"]


def test_nothing_is_written_to_local_disk(monitored_on_s3):
    data = monitored_on_s3["project"].data
    assert [p for p in data.rglob("*") if p.is_file() and p.name != ".gitkeep"] == []
