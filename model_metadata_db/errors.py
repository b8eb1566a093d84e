"""Errors a user of the store can cause. Each message names the bad field/file and the fix."""
from __future__ import annotations


class StoreError(ValueError):
    """Invalid input to the store (bad value, bad file, unknown column...)."""


class StoreFileNotFoundError(StoreError, FileNotFoundError):
    """A store file, export folder or one of its CSVs does not exist."""


class StoreLockedError(StoreError):
    """Another process held the database file for longer than the lock timeout."""
