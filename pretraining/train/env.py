"""Settings from a git-ignored ``.env`` file (``KEY=VALUE`` lines; see ``.env.template``).

One reader for bash and Python, so both follow the same rules: a variable already set in the environment wins
over the file, and an empty value (``HF_HOME=``) sets nothing. The shell scripts run this file as a script
(stdlib only, no package import): ``eval "$(python3 pretraining/train/env.py .env)"``.
"""
from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path


def parse_env(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a .env file (``#`` comments, ``export`` prefixes, shell quoting); empty values kept."""
    found: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{n}: expected KEY=VALUE, got {line!r}")
        parts = shlex.split(value, comments=True)
        found[key.strip()] = parts[0] if parts else ""
    return found


def env_updates(found: Mapping[str, str], environ: Mapping[str, str], override: bool = False) -> dict[str, str]:
    """What a .env adds to ``environ``: non-empty values of keys not already set (all non-empty with ``override``)."""
    return {k: v for k, v in found.items() if v != "" and (override or k not in environ)}


def load_env(path: str | Path | None = None, override: bool = False) -> dict[str, str]:
    """Read ``.env`` (default: the current directory's, else the repository root's) into ``os.environ``.

    Variables already set in the environment win unless ``override``; empty values are ignored.
    Returns what the file defined (empty values included).
    """
    candidates = [Path(path)] if path else [Path.cwd() / ".env", Path(__file__).resolve().parents[2] / ".env"]
    for file in candidates:
        if file.is_file():
            found = parse_env(file)
            os.environ.update(env_updates(found, os.environ, override))
            return found
    return {}


def main(argv: list[str]) -> int:
    """Print ``export KEY=VALUE`` lines for bash's ``eval`` (same rules as :func:`load_env`)."""
    if len(argv) != 1:
        print("usage: python3 pretraining/train/env.py FILE.env", file=sys.stderr)
        return 2
    try:
        updates = env_updates(parse_env(argv[0]), os.environ)
    except (OSError, ValueError) as exc:
        print(f"echo {shlex.quote(f'error: {exc}')} >&2; false")
        return 2
    print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in updates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
