"""diab_readmit: 30-day readmission models for diabetic inpatients, trained with Kedro."""

__version__ = "0.1.0"
