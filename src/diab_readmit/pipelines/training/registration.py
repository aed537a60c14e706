"""The files a version is registered with, made here so that the registry only stores them."""

from __future__ import annotations

import json
from typing import Any

from diab_readmit.datasets.model_registry import REGISTRATION_MARKS
from diab_readmit.datasets.registry_index import json_default
from diab_readmit.figures_io import png_bytes
from diab_readmit.model_card import render_model_card

from .promotion import attach_gate_decision


def registration_bundle(
    model_package: dict[str, Any], gate_decision: dict[str, Any]
) -> dict[str, Any]:
    """What ``model_registry@bundle`` stores: model, metadata with the gate's record, the
    plots as PNG files and the model card.

    The card is rendered from the metadata as ``metadata.json`` will hold it (after a JSON
    round trip), so the two cannot disagree; the version id, registration time and sha256
    of model.pkl do not exist yet and stand in it as the registry's marks, which the
    registry replaces as it writes the card.

    Args:
        model_package: ``package_model``'s output (model, metadata, plots as Figures).
        gate_decision: ``gate_challenger``'s record.

    Returns:
        ``{"model", "metadata", "plots": {file name: PNG bytes}, "model_card": str}``.
    """
    bundle = attach_gate_decision(model_package, gate_decision)
    metadata = json.loads(json.dumps(bundle["metadata"], default=json_default))
    card = render_model_card({**metadata, **REGISTRATION_MARKS})
    return {
        "model": bundle["model"],
        "metadata": bundle["metadata"],
        "plots": {name: png_bytes(plot) for name, plot in bundle["plots"].items()},
        "model_card": card,
    }
