"""conf/aws: the whole catalog moves to S3 by globals alone, bucket names come from the
environment with documented defaults, and every S3 dataset gets the retry settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT


def resolved_config(environment: dict[str, str]) -> dict:
    """Globals and catalog of `--env aws`, resolved in a fresh interpreter (OmegaConf's
    resolvers are process-global) with exactly ``environment`` for the bucket variables."""
    script = (
        "import json, warnings; warnings.simplefilter('ignore')\n"
        "from kedro.framework.startup import bootstrap_project\n"
        "from kedro.framework.session import KedroSession\n"
        f"bootstrap_project({str(PROJECT)!r})\n"
        f"with KedroSession.create(project_path={str(PROJECT)!r}, env='aws') as session:\n"
        "    loader = session.load_context().config_loader\n"
        "    print('CONFIG ' + json.dumps({'globals': loader['globals'], 'catalog': loader['catalog']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAB_")}
    env.update(environment, KEDRO_DISABLE_TELEMETRY="true")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("CONFIG ")]
    assert result.returncode == 0 and lines, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    return yaml.safe_load(lines[-1].removeprefix("CONFIG "))


@pytest.fixture(scope="module")
def default_config() -> dict:
    return resolved_config({})


@pytest.fixture(scope="module")
def configured() -> dict:
    return resolved_config(
        {
            "DIAB_DATAMART_BUCKET": "acme-datamart",
            "DIAB_MODEL_REGISTRY_BUCKET": "acme-models",
        }
    )


def test_every_base_path_is_moved_to_s3():
    base = yaml.safe_load((PROJECT / "conf/base/globals.yml").read_text())["paths"]
    aws = yaml.safe_load((PROJECT / "conf/aws/globals.yml").read_text())["paths"]
    # Kedro replaces a top-level globals key whole: a base path missing in aws would vanish.
    assert set(aws) == set(base)


def test_the_seeds_s3_layout_with_default_bucket_names(default_config):
    paths = default_config["globals"]["paths"]
    assert paths["feature_store"] == "s3://diab-readmit-datamart/gold/feature_store"
    assert paths["label_store"] == "s3://diab-readmit-datamart/gold/label_store"
    assert paths["preprocessed"] == "s3://diab-readmit-datamart/gold/preprocessed"
    assert paths["model_registry"] == "s3://diab-readmit-model-registry"
    assert paths["raw_encounters"] == "s3://diab-readmit-datamart/raw/diabetic_data.csv"
    assert all(path.startswith("s3://") for path in paths.values()), paths


def test_bucket_names_come_from_the_environment(configured):
    paths = configured["globals"]["paths"]
    assert paths["feature_store"] == "s3://acme-datamart/gold/feature_store"
    assert paths["model_registry"] == "s3://acme-models"
    catalog = configured["catalog"]
    assert (
        catalog["feature_store@frame"]["path"]
        == "s3://acme-datamart/gold/feature_store"
    )
    assert (
        catalog["{algorithm}.model_registry@bundle"]["path"]
        == "s3://acme-models/{algorithm}"
    )
    assert (
        catalog["preprocessed_snapshot"]["path"]
        == "s3://acme-datamart/gold/preprocessed"
    )


def stored_datasets(catalog: dict) -> dict[str, dict]:
    """Entries that read or write files, by name; a wrapper's (CachedDataset) inner dataset
    under the wrapper's name."""
    found = {}
    for name, declared in catalog.items():
        entry = declared
        while isinstance(entry, dict) and isinstance(entry.get("dataset"), dict):
            entry = entry["dataset"]
        if isinstance(entry, dict) and (entry.get("path") or entry.get("filepath")):
            found[name] = entry
    return found


def test_every_dataset_of_the_aws_catalog_is_on_s3(configured):
    datasets = stored_datasets(configured["catalog"])
    assert {
        "raw_encounters",
        "preprocessed_snapshot",
        "{algorithm}.model_registry@bundle",
    } <= set(datasets)
    for name, entry in datasets.items():
        location = str(entry.get("path") or entry.get("filepath"))
        assert location.startswith("s3://acme-"), (name, location)


def test_transient_errors_are_retried_and_permanent_ones_are_not(configured):
    retries = configured["globals"]["fs_args"]["config_kwargs"]["retries"]
    # botocore's standard mode retries throttling, 5xx and connection errors with backoff,
    # never 403/404; more than a handful of tries only delays the failure of an outage.
    assert retries["mode"] == "standard"
    assert 3 <= retries["total_max_attempts"] <= 10


def test_every_s3_dataset_carries_the_environments_fs_args(configured):
    expected = configured["globals"]["fs_args"]
    missing = [
        name
        for name, entry in stored_datasets(configured["catalog"]).items()
        if entry.get("fs_args") != expected
    ]
    assert not missing, (
        f"{missing} do not pass `fs_args: ${{globals:fs_args}}`, so on S3 they run without "
        f"the retry settings of conf/aws/globals.yml"
    )
