"""The paper's entry point: ``python data_tagging/get_doc_level_features.py --feature F --input IN --output OUT``.

Same as ``njsl tag run``; see ``data_tagging/README.md``.
"""
from __future__ import annotations

import sys

if __package__ in (None, ""):  # run as a script: import the package from the repository root instead of
    from pathlib import Path  # from this folder (whose module names must not shadow top-level ones)

    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here]
    sys.path.insert(0, str(Path(_here).parent))

from data_tagging.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]], prog="get_doc_level_features.py"))
