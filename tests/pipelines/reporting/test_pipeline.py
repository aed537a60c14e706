"""The reporting pipeline wired to the project's own catalog and parameters files."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from diab_readmit.datasets.optional_parquet import OptionalParquetDataset
from diab_readmit.parameter_models import ALGORITHMS
from diab_readmit.pipelines.reporting import create_pipeline
from diab_readmit.pipelines.reporting.nodes import ReportSettings
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.settings import CONFIG_LOADER_ARGS

PROJECT = Path(__file__).resolve().parents[3]
HISTORY_INPUTS = {f"{name}.model_registry@history" for name in ALGORITHMS}
#: Each algorithm's evaluation predictions, for the paired AUC differences (None if absent).
PREDICTION_INPUTS = {f"{name}.evaluation_predictions" for name in ALGORITHMS}


@pytest.fixture
def config(tmp_path) -> OmegaConfigLoader:
    """The project's conf/base, with every path under tmp_path."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    # Globals interpolate inside their own file, so the test env restates the paths block.
    globals_text = (PROJECT / "conf" / "base" / "globals.yml").read_text()
    (conf / "local" / "globals.yml").write_text(
        globals_text.replace("data_root: data", f"data_root: {tmp_path / 'data'}")
    )
    return OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)


def test_pipeline_is_namespaced_and_reads_only_the_registry_histories():
    pipeline = create_pipeline()

    assert pipeline.inputs() == HISTORY_INPUTS | PREDICTION_INPUTS | {
        "params:reporting.report",
        "params:trust",
    }
    assert all(name.startswith("reporting.") for name in pipeline.outputs())
    assert all(node.namespace == "reporting" for node in pipeline.nodes)
    assert all("(" not in node.name for node in pipeline.nodes), (
        "every node needs name="
    )


def test_every_output_is_declared_with_a_layer(config):
    catalog_config = config["catalog"]
    for name in create_pipeline().all_outputs():
        assert name in catalog_config, (
            f"{name} is not declared in catalog_reporting.yml"
        )
        assert catalog_config[name]["metadata"]["kedro-viz"]["layer"] == "reporting"


def test_run_writes_report_tables_and_charts(config, histories, tmp_path):
    catalog_config = {
        k: v for k, v in config["catalog"].items() if k.startswith("reporting.")
    }
    catalog = DataCatalog.from_config(catalog_config)
    for history in histories:
        catalog[f"{history['algorithm']}.model_registry@history"] = MemoryDataset(
            history
        )
    settings = ReportSettings(**config["parameters"]["reporting"]["report"])
    catalog["params:reporting.report"] = MemoryDataset(settings)
    catalog["params:trust"] = MemoryDataset(TrustSettings())
    for name in PREDICTION_INPUTS:  # never trained here: no predictions on disk
        catalog[name] = OptionalParquetDataset(
            filepath=str(tmp_path / f"{name}.parquet")
        )

    SequentialRunner().run(create_pipeline(), catalog)

    reporting = tmp_path / "data" / "08_reporting"
    charts = sorted((reporting / "comparison" / "charts").iterdir())
    assert [chart.name for chart in charts] == [
        "auc_over_versions.png",
        "test_vs_oot.png",
    ]
    for chart in charts:
        height, width, _ = matplotlib.image.imread(chart).shape
        assert height > 200 and width > 400

    comparison = pd.read_csv(reporting / "comparison" / "model_comparison.csv")
    assert comparison["algorithm"].tolist() == list(ALGORITHMS)
    assert comparison.loc[comparison["best"], "algorithm"].tolist() == ["random_forest"]
    assert len(pd.read_csv(reporting / "comparison" / "version_history.csv")) == 5

    markdown = (reporting / "model_comparison.md").read_text()
    page = (reporting / "model_comparison.html").read_text()
    for history in histories:
        latest = history["latest"]
        if latest is None:
            assert f"| {history['algorithm']} | not registered |" in markdown
            continue
        shown = yaml.safe_load(
            (PROJECT / "conf" / "base" / "parameters_reporting.yml").read_text()
        )
        for window in ("test", "oot"):
            for metric in shown["reporting"]["report"]["metrics"]:
                value = latest["performance"][window].get(metric)
                if (
                    value is not None
                ):  # metrics of older versions may be absent: shown as —
                    assert f"{value:.4f}" in markdown and f"{value:.4f}" in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 6
    assert (
        base64.b64decode(images[0])
        == (reporting / "comparison" / "charts" / "test_vs_oot.png").read_bytes()
    )
