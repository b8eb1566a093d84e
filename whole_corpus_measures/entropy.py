"""The paper's script path: ``python whole_corpus_measures/entropy.py --input IN.jsonl --output OUT.json
--text_column text [--ngram 1] [--num_docs N]``; the same as ``njsl entropy`` (see ``cli.py``)."""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whole_corpus_measures.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="entropy.py"))
