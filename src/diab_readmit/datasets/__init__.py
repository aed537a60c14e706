"""Catalog datasets for layouts that kedro-datasets does not cover. All are built on fsspec,
so the same class serves local disk, ``memory://`` and ``s3://``."""
