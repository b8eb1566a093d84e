"""Quantities written by people: token counts such as ``300M``, ``1.5B`` or ``2e9``, numbers written as text.

The bottom of the project: imported by the run config (``pretraining.config``), the mix report
(``pretraining.data.mixes``) and the trainer's CLI, so that they read one spelling the same way.
"""
from __future__ import annotations

import re
from typing import Any

# a plain decimal number, optionally with an exponent (no sign other than +, no thousands separators)
NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


class TokenCountError(ValueError):
    """A token count could not be read; the message names where it came from."""


def parse_token_count(value: str | int | float, name: str = "--tokens") -> int:
    """``"300M"``, ``"1.5B"``, ``"2e9"``, ``"10k"``, ``"1_000"`` → an int.

    ``name`` (an option or field) starts the :class:`TokenCountError` message for anything else.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    s = str(value).strip().upper().replace("_", "")
    suffix = s[-1:] if s[-1:] in SUFFIXES else ""
    num = s[: len(s) - len(suffix)]
    if not NUMBER.match(num):
        raise TokenCountError(f"{name}: expected a token count such as 300M, 1.5B or 2e9, got {value!r}")
    return int(float(num) * SUFFIXES.get(suffix, 1))


def number_or_same(value: Any) -> Any:
    """A numeric string (YAML 1.1 reads ``1.5e-4`` as one; the paper's JSON stores some scores as text) as a
    float; anything else unchanged, for the caller's own check to report."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
