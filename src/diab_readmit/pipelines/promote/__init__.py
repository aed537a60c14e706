"""Promote or roll back: make any complete registered version the champion, by hand."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
