"""Whole-corpus entropy as two datatrove pipelines: per-task counting into sorted runs, then one exact merge.

    njsl entropy --input DOCS/ --output OUT.json --ngram 1 2 --executor local --tasks 8 --workers 2

``count`` (N tasks): each task tokenizes its share of the input files and counts its (context, next-token)
pairs with :class:`~whole_corpus_measures.ngram_entropy.NgramCounter` (spilling within its memory budget),
then writes, per order, one sorted run of unique keys with counts (``runs/n{n}/{rank}/w{k}.u64``,
``counts.i64``) and a small ``tasks/{rank}.json`` (documents, tokens, read problems) as its commit point.

``merge`` (1 task, after all of ``count``): the task runs become the disk runs of one counter per order and
go through the same k-way merge and :func:`~whole_corpus_measures.ngram_entropy.finish_order` as the
single-process path. Counts are integers and every context's entropy is computed from its complete
distribution, so counts, context entropies and their percentiles equal the single-process figures exactly;
the pooled sums (conditional entropy, mean) are added in another order and agree to float rounding.
``--max_memory_mb`` is each task's budget.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from njsl.scaleout.executors import ExecutorOptions, Pipeline, StageRun, fingerprint, local_dir_of, run_stages
from njsl.scaleout.io import DocumentReader, list_inputs, to_njsl, write_bytes_atomic, write_json_atomic


# Tokenizers loaded in this process, by spec: the front end loads one to check it, and the local executor's
# in-process or forked tasks then find it here instead of loading it again (a fixed cost per task otherwise).
_TOKENIZERS: dict[str, Any] = {}


def process_tokenizer(spec: str):
    """The tokenizer ``spec`` names (``--tokenizer``), loaded once per process."""
    if spec not in _TOKENIZERS:
        from tokenization.tokenizer import load_tokenizer
        from whole_corpus_measures.common import resolve_tokenizer

        _TOKENIZERS[spec] = load_tokenizer(resolve_tokenizer(spec))
    return _TOKENIZERS[spec]


def _place(local: Path, folder, rel: str) -> None:
    """Put a finished local run folder at ``rel`` in ``folder`` (a rename when ``folder`` is local)."""
    target_local = local_dir_of(folder.resolve_paths(rel))
    if folder.exists(rel):
        folder.rm(rel, recursive=True)
    if target_local is not None:
        Path(target_local).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(local), target_local)
    else:
        folder.put(str(local), rel, recursive=True)


class EntropyCountStep(PipelineStep):
    """Counts this task's (context, next) pairs per order and writes them as one sorted run per order."""

    name = "njsl n-gram counts"
    type = "🔢 - COUNTER"

    def __init__(self, reader: DocumentReader, work_folder: str, orders: list[int], tokenizer: str,
                 max_memory_mb: float, batch_chars: int, merge_block: int = 1 << 20):
        super().__init__()
        self.reader = reader  # the same task's reader: its read report goes into the task's summary
        self.work_folder = work_folder
        self.orders = sorted(set(orders))
        self.tokenizer = tokenizer
        self.max_memory_mb = max_memory_mb
        self.batch_chars = batch_chars
        self.merge_block = merge_block

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from whole_corpus_measures.common import token_batches
        from whole_corpus_measures.ngram_entropy import NgramCounter, append_run, order_budget

        t0 = time.time()
        started = time.time()
        tok = process_tokenizer(self.tokenizer)
        setup = time.time() - t0
        folder = get_datafolder(self.work_folder)
        tmp = Path(tempfile.mkdtemp(prefix=f"njsl-entropy-task{rank}-"))
        try:
            per_order = order_budget(self.max_memory_mb, len(self.orders))
            counters = [NgramCounter(n, tok.vocab_size, tmp / "spill", per_order, self.merge_block)
                        for n in self.orders]
            docs = empty = tokens = 0
            for flat, lengths in token_batches((to_njsl(d) for d in data or ()), tok, self.batch_chars):
                with self.track_time(unit="batch"):
                    docs += len(lengths)
                    empty += int((lengths == 0).sum())
                    tokens += int(lengths.sum())
                    for counter in counters:
                        counter.add_documents(flat, lengths)
            self.stat_update("documents", value=docs)
            self.stat_update("tokens", value=tokens)
            for counter in counters:
                out = tmp / "out" / f"n{counter.spec.n}"
                out.mkdir(parents=True)
                for block in counter.sorted_blocks():
                    append_run(out, block)
                counter.runs = []
                _place(out, folder, f"runs/n{counter.spec.n}/{rank:05d}")
            report = self.reader.report
            write_json_atomic(folder, f"tasks/{rank:05d}.json", {
                "documents": docs, "empty_documents": empty, "tokens": tokens, "vocab_size": tok.vocab_size,
                "malformed_lines": report.malformed_lines, "decode_replacements": report.decode_replacements,
                "setup_seconds": setup, "started": started, "seconds": time.time() - t0 - setup,
            })
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        yield from ()


class EntropyMergeStep(PipelineStep):
    """Merges every count task's runs per order (exactly) and writes the entropy JSON."""

    name = "njsl n-gram merge"
    type = "🔢 - COUNTER"

    def __init__(self, work_folder: str, count_tasks: int, orders: list[int], output: str, record: dict[str, Any],
                 tokenizer_name: str, max_memory_mb: float, merge_block: int = 1 << 20,
                 max_context_entropies_in_memory: int | None = None):
        super().__init__()
        self.work_folder = work_folder
        self.count_tasks = count_tasks
        self.orders = sorted(set(orders))
        self.output = output
        self.record = record
        self.tokenizer_name = tokenizer_name
        self.max_memory_mb = max_memory_mb
        self.merge_block = merge_block
        self.max_context_entropies_in_memory = max_context_entropies_in_memory

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from njsl.documents import ReadReport
        from whole_corpus_measures.common import entropy_record
        from whole_corpus_measures.ngram_entropy import EntropyResult, NgramCounter, finish_order, order_budget

        t0 = time.time()
        folder = get_datafolder(self.work_folder)
        tasks = []
        for r in range(self.count_tasks):
            if not folder.exists(f"tasks/{r:05d}.json"):
                raise RuntimeError(f"count task {r} has no summary in {folder.resolve_paths('tasks')}; rerun")
            with folder.open(f"tasks/{r:05d}.json", "r") as fh:
                tasks.append(json.load(fh))
        vocab = tasks[0]["vocab_size"]
        tmp = Path(tempfile.mkdtemp(prefix="njsl-entropy-merge-"))
        try:
            per_order = order_budget(self.max_memory_mb, len(self.orders))
            results = []
            for n in self.orders:
                counter = NgramCounter(n, vocab, tmp, per_order, self.merge_block)
                for r in range(self.count_tasks):
                    counter.add_disk_run(_local_copy(folder, f"runs/n{n}/{r:05d}", tmp / f"in-n{n}-{r:05d}"))
                results.append(finish_order(counter, per_order, self.max_context_entropies_in_memory))
                shutil.rmtree(counter.dir, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        report = ReadReport(malformed_lines=[tuple(m) for t in tasks for m in t["malformed_lines"]],
                            decode_replacements=sum(t["decode_replacements"] for t in tasks))
        res = EntropyResult(results, sum(t["documents"] for t in tasks), sum(t["empty_documents"] for t in tasks),
                            sum(t["tokens"] for t in tasks), {r["n"]: r["spilled_runs"] for r in results})
        # wall time from the first count task's start to now, less the tokenizer loading of the slowest task
        setup = max(t["setup_seconds"] for t in tasks)
        seconds = time.time() - min(t["started"] for t in tasks) - setup
        out = entropy_record(SimpleNamespace(**self.record), res, report, self.tokenizer_name, vocab, False, setup,
                             seconds)
        out["tasks"] = self.count_tasks
        out["merge_seconds"] = round(time.time() - t0, 3)
        parent, name = split_output(self.output)
        text = (json.dumps(out, indent=1) + "\n").encode()
        write_bytes_atomic(get_datafolder(parent), name, lambda fh: fh.write(text))
        self.stat_update("orders", value=len(self.orders))
        yield from ()


def split_output(output: str) -> tuple[str, str]:
    """``(folder URL, file name)`` of an output path or URL."""
    parent, _, name = output.rpartition("/")
    return (parent or ".", name)


def _local_copy(folder, rel: str, dest: Path) -> Path:
    """A local folder holding the run at ``rel``: hard links when local (the merge may delete what it reads;
    the task runs must survive a killed merge), else a download."""
    src = local_dir_of(folder.resolve_paths(rel))
    if src is not None:
        shutil.copytree(src, dest, copy_function=os.link)
    else:
        folder.get(rel, str(dest), recursive=True)
    return dest


def run_entropy_pipeline(args, opts: ExecutorOptions, *, batch_chars: int, merge_block: int = 1 << 20,
                         max_context_entropies_in_memory: int | None = None) -> tuple[StageRun, dict | None]:
    """``njsl entropy`` (arguments already checked by its CLI) on datatrove executors: returns what ran and, once
    complete, the written JSON. ``batch_chars``: characters tokenized per batch in each task."""
    from whole_corpus_measures.common import DEFAULT_TOKENIZER

    if args.num_docs is not None and opts.tasks > 1:
        raise ValueError("--num_docs takes the first N documents of the corpus, which only one task sees; use "
                         "--tasks 1 or drop --num_docs")
    input_folder, files = list_inputs(str(args.input))
    tok = process_tokenizer(args.tokenizer)  # fails here, once, if the tokenizer is wrong
    tok_name = tok.spec if args.tokenizer != DEFAULT_TOKENIZER else DEFAULT_TOKENIZER
    tasks = opts.tasks if opts.shard is not None else min(opts.tasks, len(files))
    opts = opts.model_copy(update={"tasks": tasks})
    output = str(args.output)
    record = {"input": str(args.input), "text_column": args.text_column, "resps_format": args.resps_format,
              "num_docs": args.num_docs, "max_memory_mb": args.max_memory_mb}
    request = [record, sorted(set(args.ngram)), tok_name, input_folder, files, tasks]
    parent, name = split_output(output)
    logging_root = opts.logging_dir or get_datafolder(parent).resolve_paths(f".{name}.datatrove/{fingerprint(request)}")
    work = f"{logging_root}/work"
    if not get_datafolder(work).exists("") and get_datafolder(logging_root).exists(""):
        # a finished run removed its runs: its completion markers would skip the merge, so start afresh
        get_datafolder(logging_root).rm("", recursive=True)
    reader = DocumentReader(input_folder, files, text_column=args.text_column, resps_format=args.resps_format,
                            strict=args.strict, skip_empty=False, limit=args.num_docs)
    count = EntropyCountStep(reader, work, args.ngram, args.tokenizer, args.max_memory_mb, batch_chars, merge_block)
    merge = EntropyMergeStep(work, tasks, args.ngram, output, record, tok_name, args.max_memory_mb, merge_block,
                             max_context_entropies_in_memory)
    run = run_stages([Pipeline("count", [reader, count], tasks), Pipeline("merge", [merge], 1)], opts, logging_root)
    if not run.complete:
        return run, None
    work_folder = get_datafolder(work)
    if work_folder.exists(""):  # the runs are only needed until the merge has written the output
        work_folder.rm("", recursive=True)
    with get_datafolder(parent).open(name, "r") as fh:
        return run, json.load(fh)
