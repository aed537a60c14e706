"""The `monitoring` pipeline: drift, performance and calibration of the scored months."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
