"""The training template, instantiated once per algorithm by namespace."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
