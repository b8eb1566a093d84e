"""Dataset loaders for the local tasks: read the jsonl beside this file, whatever the working directory.

lm-eval calls ``custom_dataset`` with the task's metadata as keyword arguments; they are not needed here.
"""
from pathlib import Path

import datasets

_HERE = Path(__file__).resolve().parent


def _load(name: str):
    return datasets.load_dataset("json", data_files={"test": str(_HERE / name)})


def load_stdlib_nextline(**_metadata):
    return _load("stdlib_nextline.jsonl")


def load_docstring_continuation(**_metadata):
    return _load("docstring_continuation.jsonl")
