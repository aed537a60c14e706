"""Batch scoring of new encounters with the champion (pipeline ``inference``)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
