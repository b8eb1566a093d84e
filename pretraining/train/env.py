"""Settings from a git-ignored ``.env`` file (``KEY=VALUE`` lines; see ``.env.template``)."""
from __future__ import annotations

import os
import shlex
from pathlib import Path


def load_env(path: str | Path | None = None, override: bool = False) -> dict[str, str]:
    """Read ``.env`` (default: the current directory's, else the repository root's) into ``os.environ``.

    Variables already set in the environment win unless ``override``. Returns what the file defined.
    """
    candidates = [Path(path)] if path else [Path.cwd() / ".env", Path(__file__).resolve().parents[2] / ".env"]
    found: dict[str, str] = {}
    for file in candidates:
        if not file.is_file():
            continue
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            if not sep or not key.strip().isidentifier():
                raise ValueError(f"{file}:{n}: expected KEY=VALUE, got {line!r}")
            parts = shlex.split(value, comments=True)
            found[key.strip()] = parts[0] if parts else ""
        break
    for key, value in found.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return found
