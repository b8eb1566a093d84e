"""Run taggers over documents: in memory (:func:`tag_documents`) or over files with shards and resume
(:func:`run_tagging`).

Resumable output: while running, rows go to ``.<output>.parts/part-NNNNNN.parquet`` beside the output,
each part written atomically, with ``progress.json`` (documents done) as a human-readable marker and
``run.json`` holding what the run was asked (features, options, input files with sizes and mtimes). Killed
and restarted with the same command, a run counts the rows already in complete parts, skips that many
documents and goes on; the parts are then joined into the output in one atomic rename. The output is
therefore identical to an uninterrupted run, and no half-written file ever carries the output's name.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Sequence

import pandas as pd

from njsl.atomic import atomic_path, write_text_atomic
from njsl.documents import Document, ReadReport, input_files, iter_documents, shard_of

from data_tagging.registry import (
    DOC_SKIP_COLUMN,
    Tagger,
    TaggingError,
    build_tagger,
    nan_row,
    output_schema,
    resolve_features,
    tagger_class,
)

FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------------
# in memory


def build_taggers(names: Sequence[str], options: dict[str, Any]) -> list[Tagger]:
    return [build_tagger(n, options) for n in names]


EMPTY_REASON = "empty text"


def tag_batch(taggers: Sequence[Tagger], docs: Sequence[Document]) -> list[dict[str, Any]]:
    """One row per document: ``id`` plus every tagger's values.

    An empty (or whitespace-only) document is not given to the taggers: its row has every value NaN and
    ``doc_skip_reason = "empty text"``, so the output still has one row per input document.
    """
    rows: list[dict[str, Any]] = [{"id": d.id, DOC_SKIP_COLUMN: None} for d in docs]
    keep = [i for i, d in enumerate(docs) if d.text.strip()]
    for i in set(range(len(docs))) - set(keep):
        rows[i][DOC_SKIP_COLUMN] = EMPTY_REASON
        for tagger in taggers:
            rows[i].update(nan_row(type(tagger)))
    if not keep:
        return rows
    kept = [docs[i] for i in keep] if len(keep) < len(docs) else list(docs)
    for tagger in taggers:
        values = tagger.tag(kept)
        if len(values) != len(kept):  # a tagger bug, not a user error: fail loudly
            raise RuntimeError(f"tagger {tagger.name} returned {len(values)} rows for {len(kept)} documents")
        for i, v in zip(keep, values, strict=True):
            rows[i].update(v)
    return rows


# Worker processes hold their taggers in this module-level slot, set once by the pool initializer
# (a pool's only way to keep loaded models between tasks). The parent process never touches it.
_WORKER_TAGGERS: list[Tagger] | None = None
_WORKER_ERROR: Exception | None = None


def _init_worker(names: Sequence[str], options: dict[str, Any]) -> None:
    global _WORKER_TAGGERS, _WORKER_ERROR
    # One thread per worker: the processes are the parallelism (numpy/BLAS read this when first used).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        _WORKER_TAGGERS = build_taggers(names, options)
    except Exception as exc:  # re-raised by the first task: a failing pool initializer would respawn forever
        _WORKER_ERROR = exc
    if "torch" in sys.modules:  # only a tagger that needs torch (the quality classifier) imported it
        sys.modules["torch"].set_num_threads(1)


def _worker_tag(docs: list[Document]) -> list[dict[str, Any]]:
    if _WORKER_ERROR is not None:
        raise _WORKER_ERROR
    assert _WORKER_TAGGERS is not None
    return tag_batch(_WORKER_TAGGERS, docs)


def _batches(docs: Iterable[Document], size: int, keep_meta: bool) -> Iterator[list[Document]]:
    it = iter(docs)
    while True:
        batch = list(itertools.islice(it, size))
        if not batch:
            return
        if not keep_meta:  # metadata can be large (lm-eval sample logs); workers need only id and text
            batch = [Document(d.id, d.text) for d in batch]
        yield batch


def iter_tagged(
    docs: Iterable[Document],
    features: str | Sequence[str],
    options: dict[str, Any] | None = None,
    *,
    n_process: int = 1,
    batch_size: int = 64,
) -> Iterator[list[dict[str, Any]]]:
    """Tag documents batch by batch, yielding each batch's rows in input order.

    With ``n_process > 1`` a process pool (each worker loads its taggers once) tags batches in parallel;
    at most ``2 * n_process`` batches are in flight, so memory stays bounded on any input size.
    """
    names = resolve_features(features)
    options = dict(options or {})
    keep_meta = any(getattr(tagger_class(n), "uses_meta", False) for n in names)
    batches = _batches(docs, max(1, int(batch_size)), keep_meta)
    if n_process <= 1:
        taggers = build_taggers(names, options)
        for batch in batches:
            yield tag_batch(taggers, batch)
        return
    # fork: workers start in milliseconds and need no importable __main__ (API callers, notebooks); the
    # taggers are built after the fork, in each worker, so no model state is shared across processes.
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(n_process, initializer=_init_worker, initargs=(names, options)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.apply_async(_worker_tag, (batch,)))
            if len(pending) >= 2 * n_process:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()  # let workers exit on their own (a clean join) rather than terminate() at __exit__
        pool.join()


def tag_documents(
    docs: Iterable[Document],
    features: str | Sequence[str],
    *,
    n_process: int = 1,
    batch_size: int = 64,
    **options: Any,
) -> pd.DataFrame:
    """Tag documents in memory: one row per document, an ``id`` column and each tagger's value columns.

    ``features`` as on the command line (``"all"``, ``"char_len,ttr"``, ``["parse", "keyword_ratios"]``);
    ``options`` are the taggers' keyword options (``tokenizer=``, ``spacy_model=``, ``language_detector=``,
    ``code_language=``, ``quality_model=``...). Used by :mod:`freegens` for pseudo features.
    """
    names = resolve_features(features)
    schema = output_schema(names)
    rows = [row for batch in iter_tagged(docs, names, options, n_process=n_process, batch_size=batch_size)
            for row in batch]
    frame = pd.DataFrame(rows, columns=schema.names)
    return frame


# --------------------------------------------------------------------------------------------------------
# files, shards, resume


def shard_output_path(output: str | Path, shard: tuple[int, int] | None) -> Path:
    """``out.parquet`` -> ``out-00003-of-00008.parquet`` for shard 3/8 (one output per array task)."""
    output = Path(output)
    if shard is None:
        return output
    i, n = shard
    suffix = "".join(output.suffixes[-1:]) or ".parquet"
    stem = output.name[: -len(suffix)] if output.name.endswith(suffix) else output.name
    return output.with_name(f"{stem}-{i:05d}-of-{n:05d}{suffix}")


def work_dir_for(output: Path) -> Path:
    return output.with_name(f".{output.name}.parts")


@dataclass
class RunSummary:
    output: Path
    documents: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    already_complete: bool = False
    report: ReadReport = field(default_factory=ReadReport)
    skipped: dict[str, int] = field(default_factory=dict)  # "<column>: <reason>" -> documents

    def line(self) -> str:
        if self.already_complete:
            return f"{self.output} is already complete (delete it or pass --overwrite to recompute)"
        rate = (self.documents - self.resumed_from) / self.seconds if self.seconds > 0 else float("nan")
        resumed = f", resumed after {self.resumed_from}" if self.resumed_from else ""
        skipped = "".join(f"; {reason}: {n} document(s)" for reason, n in sorted(self.skipped.items()))
        return (f"wrote {self.documents} document rows to {self.output}{resumed} "
                f"({rate:.1f} docs/s); input: {self.report.summary()}{skipped}")


def _input_fingerprint(path: Path) -> list[dict[str, Any]]:
    out = []
    for f in input_files(path):
        files = [f] if f.is_file() else sorted(p for p in f.rglob("*") if p.is_file())
        for p in files:
            st = p.stat()
            out.append({"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _part_files(work: Path) -> list[Path]:
    parts = sorted(work.glob("part-*.parquet"))
    for k, p in enumerate(parts):
        if p.name != f"part-{k:06d}.parquet":
            raise TaggingError(f"{work}: part files are not contiguous at {p.name}; delete {work} to start over")
    return parts


def _already_complete(out: Path, work: Path, overwrite: bool) -> bool:
    """True when ``out`` is a finished run to keep; clears what a killed run or ``overwrite`` leaves behind."""
    for stale in out.parent.glob(f".{out.name}.tmp-*"):  # a run killed while renaming its output
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
        return False
    if out.exists():
        shutil.rmtree(work, ignore_errors=True)  # left over from a kill between the rename and the cleanup
        return True
    return False


class _PartWriter:
    """Rows buffered into numbered parquet parts of ``part_docs`` rows in the work folder; ``progress.json``
    records what is committed, so a killed run resumes after the last part."""

    def __init__(self, work: Path, schema, parts: int, done: int, part_docs: int):
        self.work, self.schema, self.parts, self.done, self.part_docs = work, schema, parts, done, part_docs
        self.buffer: list[dict[str, Any]] = []

    def consume(self, batches: Iterable[list[dict[str, Any]]], bar) -> None:
        """Write every batch of rows (``bar``: a progress bar, closed at the end); a run that fails before its
        first part is kept leaves no work folder behind."""
        try:
            for rows in batches:
                self.add(rows)
                bar.update(len(rows))
            self.flush()
        except BaseException:
            if self.parts == 0:
                shutil.rmtree(self.work, ignore_errors=True)
            raise
        finally:
            bar.close()

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.buffer += rows
        if len(self.buffer) >= self.part_docs:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        table = pa.Table.from_pylist(self.buffer, schema=self.schema)
        with atomic_path(self.work / f"part-{self.parts:06d}.parquet") as tmp:
            pq.write_table(table, tmp)
        self.parts += 1
        self.done += len(self.buffer)
        self.buffer = []
        write_text_atomic(self.work / "progress.json", json.dumps({"documents_done": self.done,
                                                                    "parts": self.parts}))


def run_tagging(
    input: str | Path,
    output: str | Path,
    features: str | Sequence[str],
    *,
    text_column: str = "text",
    resps_format: bool = False,
    id_column: str | None = None,
    strict: bool = False,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
    n_process: int = 1,
    batch_size: int = 64,
    part_docs: int = 2000,
    overwrite: bool = False,
    progress: bool = True,
    options: dict[str, Any] | None = None,
) -> RunSummary:
    """Tag every document of ``input`` (this shard's share) into a parquet file keyed by document id.

    Resumes a killed run started with the same arguments; refuses (with the fix in the message) to mix
    parts of a run with different features/options/input. See the module docstring for the layout.
    """
    import pyarrow.parquet as pq
    from tqdm import tqdm

    names = resolve_features(features)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    input = Path(input)
    out = shard_output_path(output, shard)
    work = work_dir_for(out)
    summary = RunSummary(out)
    if _already_complete(out, work, overwrite):
        summary.already_complete = True
        return summary

    request = {
        "format_version": FORMAT_VERSION, "features": names, "options": options,
        "input": _input_fingerprint(input), "text_column": text_column, "resps_format": resps_format,
        "id_column": id_column, "limit": limit, "shard": list(shard) if shard else None,
    }
    _claim_work_dir(work, request)
    schema = output_schema(names)
    parts = _part_files(work)
    done = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    summary.resumed_from = done

    docs = iter_documents(input, text_column=text_column, resps_format=resps_format, id_column=id_column,
                          strict=strict, limit=limit, report=summary.report, skip_empty=False)
    todo = itertools.islice(shard_of(docs, shard), done, None)

    start = time.perf_counter()
    writer = _PartWriter(work, schema, len(parts), done, part_docs)
    writer.consume(iter_tagged(todo, names, options, n_process=n_process, batch_size=batch_size),
                   tqdm(desc=f"tag {','.join(names)}", unit="doc", initial=done, disable=None if progress else True))
    summary.seconds = time.perf_counter() - start
    done = writer.done

    meta = {"njsl_tagging": json.dumps({**request, "read_report": summary.report.summary()})}
    _merge_parts(work, out, schema.with_metadata(meta))
    shutil.rmtree(work, ignore_errors=True)
    summary.documents = done
    if done:
        summary.skipped.update(_skip_counts(out, schema))
    return summary


def changed_fields(previous: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """Fields of ``request`` (compared as JSON, as it was recorded) that differ from a recorded ``previous``."""
    now = json.loads(json.dumps(request))
    return sorted(k for k in now.keys() | previous.keys() if previous.get(k) != now.get(k))


def _claim_work_dir(work: Path, request: dict[str, Any]) -> None:
    """Start a run in ``work``, or check that the unfinished run there was started with the same request."""
    run_file = work / "run.json"
    if run_file.exists() and _part_files(work):  # with no part written there is nothing to keep or mix up
        previous = json.loads(run_file.read_text())
        changed = changed_fields(previous, request)
        if changed:
            raise TaggingError(
                f"{work} holds an unfinished run with different {', '.join(changed)}; rerun the same command "
                "to resume it, or pass --overwrite to start over"
            )
        return
    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_file, json.dumps(request, indent=1))
    for stale in work.glob("progress.json"):
        stale.unlink()


def _merge_parts(work: Path, out: Path, schema) -> None:
    """The part files of ``work`` as one parquet file ``out`` (written atomically; empty parts -> empty table)."""
    import pyarrow.parquet as pq

    parts = _part_files(work)
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for p in parts:
            writer.write_table(pq.read_table(p, schema=schema.remove_metadata()))
        if not parts:  # no documents at all: still a valid, empty table with the full schema
            writer.write_table(schema.empty_table())


def _skip_counts(out: Path, schema) -> dict[str, int]:
    """``"<tagger> skipped, <reason>" -> documents`` from the output's ``*_skip_reason`` columns."""
    import pyarrow.parquet as pq

    reasons = [c for c in schema.names if c.endswith("_skip_reason")]
    if not reasons:
        return {}
    table = pq.read_table(out, columns=reasons).to_pandas()
    return {f"{col.removesuffix('_skip_reason')} skipped, {reason}": int(n)
            for col in reasons for reason, n in table[col].dropna().value_counts().items()}
