"""The ``synthetic`` pipeline's wiring and its typed, validated parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.validation.exceptions import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator
from pydantic import ValidationError

from diab_readmit.pipelines.synthetic import create_pipeline
from diab_readmit.pipelines.synthetic.nodes import generate_demo_files
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

CONF = Path(__file__).resolve().parents[3] / "conf"


def test_one_namespaced_node_writes_the_demo_raw_file_and_the_next_month():
    pipeline = create_pipeline()
    (node,) = pipeline.nodes
    assert node.func is generate_demo_files
    assert node.name == "synthetic.generate_demo_files"
    assert node.namespace == "synthetic"
    assert node.inputs == ["params:synthetic"]
    assert node.outputs == [
        "synthetic.raw_encounters",
        "synthetic.next_month_extract",
    ]
    assert pipeline.inputs() == {"params:synthetic"}
    assert pipeline.outputs() == {
        "synthetic.raw_encounters",
        "synthetic.next_month_extract",
    }


def _validate(raw_params: dict) -> dict:
    """What Kedro does with ``parameters`` before a run of the ``synthetic`` pipeline."""
    return ParameterValidator({"synthetic": create_pipeline()}).validate_raw_params(
        raw_params
    )


def test_the_node_receives_a_validated_model_from_the_project_parameters():
    loader = OmegaConfigLoader(
        conf_source=str(CONF),
        base_env="base",
        default_run_env="local",
        runtime_params={"synthetic": {"n_encounters": 1_000_000}},
    )
    validated = _validate({"synthetic": loader["parameters"]["synthetic"]})
    assert validated["synthetic"] == SyntheticParams(n_encounters=1_000_000, seed=42)
    defaults = OmegaConfigLoader(
        conf_source=str(CONF), base_env="base", default_run_env="local"
    )
    assert _validate({"synthetic": defaults["parameters"]["synthetic"]})[
        "synthetic"
    ] == (SyntheticParams(n_encounters=100_000, seed=42))


@pytest.mark.parametrize("size", [999, 0, -5, 20_000_001])
def test_out_of_range_size_is_refused_with_the_key_the_value_and_the_range(size):
    with pytest.raises(ValidationError) as raised:
        SyntheticParams(n_encounters=size)
    message = str(raised.value)
    assert f"n_encounters={size:,}" in message
    assert "1,000..20,000,000" in message and "synthetic.n_encounters" in message


def test_kedro_stops_before_running_on_a_bad_size_naming_the_parameter():
    with pytest.raises(ParameterValidationError) as raised:
        _validate({"synthetic": {"n_encounters": 500, "seed": 1}})
    message = str(raised.value)
    assert "Parameter 'synthetic'" in message and "n_encounters=500" in message


def test_misspelt_keys_and_negative_seeds_are_refused():
    with pytest.raises(ParameterValidationError, match="n_encounter"):
        _validate({"synthetic": {"n_encounter": 5_000}})
    with pytest.raises(ValidationError, match="seed=-1 is negative"):
        SyntheticParams(seed=-1)
