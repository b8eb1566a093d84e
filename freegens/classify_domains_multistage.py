"""The paper's entry point: ``python freegens/classify_domains_multistage.py --input IN.jsonl --output OUT.csv``.

Same options as ``njsl domains classify`` (see ``--help``).
"""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from freegens.domains_cli import classify_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(classify_main(prog="classify_domains_multistage.py"))
