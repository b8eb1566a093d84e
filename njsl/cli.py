"""The ``njsl`` command: one subcommand per stage, each implemented by its package's ``cli`` module.

Subcommand modules are imported only when chosen, so ``njsl db info`` never pays for importing torch.
Each module exposes ``main(argv: list[str] | None = None, prog: str | None = None) -> int``, decorated with
:func:`guarded`: the one place where an error a user can cause becomes ``error: <message>`` on stderr and an
exit code (no traceback).
"""
from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import TypeVar

# Exit codes: 0 success, 1 an external service failed (exception class sets exit_code = 1), 2 bad input (a
# ValueError subclass naming the field/file, or a file that cannot be read/written), 3 training diverged.
USER_ERROR_EXIT = 2
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError)

F = TypeVar("F", bound=Callable[..., int])


def exit_code(exc: BaseException) -> int | None:
    """The exit code for ``exc``: its class's ``exit_code``, 2 for a user error, None for a bug (re-raised)."""
    code = getattr(type(exc), "exit_code", None)
    if isinstance(code, int):
        return code
    return USER_ERROR_EXIT if isinstance(exc, USER_ERRORS) else None


def report(exc: BaseException) -> int | None:
    """Print ``error: <message>`` for a mapped exception and return its exit code; None when it is not mapped."""
    code = exit_code(exc)
    if code is not None:
        print(f"error: {exc}", file=sys.stderr)
    return code


def guarded(main: F) -> F:
    """Decorator for a subcommand's ``main``: mapped exceptions become ``error: ...`` and their exit code."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as exc:
            code = report(exc)
            if code is None:
                raise
            return code
    return wrapper  # type: ignore[return-value]

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("model_metadata_db.cli", "the model metadata store: import, export, info, check, add-eval, add-model"),
    "summary": ("model_metadata_db.summary", "import the paper's release (or open a store) and print a summary"),
    "predict": ("performance_prediction.cli", "predict benchmark scores from the store; write the report"),
    "predict-model": ("performance_prediction.what_if", "predict scores of a planned model from a YAML spec"),
    "tokenizer": ("tokenization.cli", "train a tokenizer (BPE/unigram) in Hugging Face format"),
    "preprocess": ("pretraining.data.preprocess_cli", "tokenize documents into Megatron .bin/.idx datasets"),
    "mix": ("pretraining.data.mix_cli", "validate and report a data mix"),
    "train": ("pretraining.train.train_cli", "pretrain a model from a config on a data mix"),
    "sweep": ("pretraining.train.sweep", "expand a grid of design decisions/mixes into runs"),
    "export": ("pretraining.evaluate.export_cli", "export a checkpoint to a Hugging Face folder"),
    "runs": ("pretraining.train.runs_cli", "inspect training runs: plot loss, lr and norms (runs plot RUN_DIR)"),
    "perplexity": ("pretraining.evaluate.perplexity_cli", "held-out perplexity of a model on a dataset"),
    "tag": ("data_tagging.cli", "document-level taggers and their aggregation into the store"),
    "entropy": ("whole_corpus_measures.cli", "whole-corpus n-gram next-token entropy"),
    "domains": ("freegens.domains_cli", "domain classification (LLM cascade or local classifier)"),
    "freegens": ("freegens.cli", "free generations, filtering and pseudo features"),
    "eval": ("pretraining.evaluate.eval_cli", "run lm-evaluation-harness and import the results into the store"),
    "register-run": ("pretraining.evaluate.register_run",
                     "register a training run (annotation, data, evals) in the store"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: njsl <command> [args...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'njsl <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"njsl: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    result = guarded(module.main)(rest, prog=f"njsl {name}")
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
