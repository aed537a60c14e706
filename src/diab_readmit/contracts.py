"""Contracts between the stages: names that more than one pipeline relies on."""

from __future__ import annotations

#: History features that exist only when encounter dates are real dates (a date column):
#: encounter ranks spread over a date range are not days. With synthesized dates the gold
#: store leaves them out, and preprocessing does not ask for them.
CALENDAR_HISTORY_FEATURES = ("hist_days_since_last", "hist_prior_encounters_365d")
