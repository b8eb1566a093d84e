"""Errors a user of the predictor can cause; each message names the bad input and the fix."""
from __future__ import annotations


class PredictionInputError(ValueError):
    """Bad input to the predictor: a missing table/column, unknown feature or task, too few models..."""


class PredictionFileNotFoundError(PredictionInputError, FileNotFoundError):
    """A database, CSV or spec file does not exist."""
