"""Taggers as a datatrove pipeline: one attributes file per input file, on any fsspec path, any executor.

    njsl tag run --feature all --input DOCS/ --output ATTRS/ --executor local --tasks 8 --workers 2

Layout (dolma-style): for every input file ``DOCS/a/b.jsonl.gz`` the attributes file ``ATTRS/a/b.parquet``
holds one row per document, keyed by ``id``, with columns named ``<tagger>__<column>`` (e.g.
``char_len__char_len``, ``tokens__ttr``, ``dep_parse__dep_parse_dep_head_dist_median``). Its parquet metadata
records the request (features, options, text column), so a rerun skips input files whose attributes exist
(a corpus grows and is tagged incrementally) and refuses to mix attributes of another request.

The taggers are the registry's own classes, called through :func:`data_tagging.runner.tag_batch`; only the
reading, sharding and writing differ from :func:`data_tagging.runner.run_tagging`. Each attributes file is
written under a hidden temporary name and moved into place when its input file is done, and datatrove marks
a task complete only after all its files are: a run killed with ``kill -9`` and started again redoes only
the unfinished files, so the result equals an uninterrupted run's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from data_tagging.registry import TAGGERS, TaggingError, output_schema, resolve_features, tagger_class
from data_tagging.runner import build_taggers, changed_fields, tag_batch
from njsl.documents import ReadReport
from njsl.scaleout.executors import ExecutorOptions, Pipeline, StageRun, fingerprint, run_stages
from njsl.scaleout.io import (FILE_KEY, DocumentReader, file_documents, fresh_tmp_name, list_inputs, mirrored_names,
                              to_njsl)

ATTRIBUTES_FORMAT = "njsl-attributes/1"
# Empty documents are kept, as data_tagging.runner.run_tagging reads them (so both paths give the same rows):
# they become NaN rows with a reason in ``doc_skip_reason``.
SKIP_EMPTY = False
META_KEY = b"njsl_attributes"
SEP = "__"


def attribute_schema(names: Sequence[str]):
    """The Arrow schema of an attributes file: ``id`` then ``<tagger>__<column>`` for each tagger's columns
    (a column of no tagger, such as a per-document skip reason, keeps its name)."""
    import pyarrow as pa

    base = output_schema(names)
    owner = {c: n for n in names for c in (*tagger_class(n).columns, *tagger_class(n).text_columns)}
    return pa.schema([f.with_name(f"{owner[f.name]}{SEP}{f.name}") if f.name in owner else f for f in base])


def from_attribute_columns(columns: Sequence[str]) -> dict[str, str]:
    """``{"tokens__ttr": "ttr", ...}``: dolma-style attribute names back to the taggers' column names."""
    from data_tagging.registry import _load_builtin_taggers

    _load_builtin_taggers()
    out = {}
    for c in columns:
        tagger, sep, col = c.partition(SEP)
        if sep and tagger in TAGGERS and col in (*TAGGERS[tagger].columns, *TAGGERS[tagger].text_columns):
            out[c] = col
    return out


def read_request(folder, rel: str) -> dict | None:
    """The request recorded in an attributes file, or None when the file does not exist."""
    import pyarrow.parquet as pq

    if not folder.exists(rel):
        return None
    with folder.open(rel, "rb") as fh:
        meta = pq.ParquetFile(fh).schema_arrow.metadata or {}
    if META_KEY not in meta:
        raise TaggingError(f"{folder.resolve_paths(rel)} exists but is not an njsl attributes file; "
                           "choose another --output folder")
    return json.loads(meta[META_KEY])


class AttributesExist:
    """``skip_done`` for the reader: the input file's attributes file already exists (checked before launch)."""

    def __init__(self, output_folder: str, names: dict[str, str]):
        self.output_folder = output_folder
        self.names = names

    def __call__(self, rel: str) -> bool:
        return get_datafolder(self.output_folder).exists(self.names[rel])


class TaggerStep(PipelineStep):
    """Tags the documents of each input file and writes that file's attributes file when the file ends."""

    name = "njsl taggers"
    type = "🏷 - TAGGER"

    def __init__(self, output_folder: str, files: list[str], features: Sequence[str], options: dict[str, Any],
                 request: dict[str, Any], batch_size: int = 64, plugins: Sequence[str] = ()):
        super().__init__()
        self.plugins = list(plugins)  # modules registering extra taggers: imported again where the task runs
        self.output_folder = output_folder
        self.files = list(files)
        self.out_names = dict(zip(self.files, mirrored_names(self.files, ".parquet"), strict=True))
        self.features = list(features)
        self.options = dict(options)
        self.request = dict(request)
        self.batch_size = max(1, int(batch_size))

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import importlib

        for module in self.plugins:
            importlib.import_module(module)
        taggers = _process_taggers(self.features, self.options)
        folder = get_datafolder(self.output_folder)
        schema = attribute_schema(self.features)
        writer = _FileWriter(folder, schema, self.request)
        batch: list = []

        def flush() -> None:
            if batch:
                with self.track_time(unit="batch"):
                    rows = tag_batch(taggers, [to_njsl(d) for d in batch])
                writer.add(rows)
                self.stat_update("documents", value=len(batch))
                batch.clear()

        written: set[str] = set()
        for doc in data or ():
            rel = doc.metadata[FILE_KEY]
            if rel != writer.source:
                flush()
                if writer.source is not None:
                    written.add(writer.commit())
                writer.start(rel, self.out_names[rel])
            batch.append(doc)
            if len(batch) >= self.batch_size:
                flush()
        flush()
        if writer.source is not None:
            written.add(writer.commit())
        # input files of this task with no document (all empty or malformed) still get their attributes file
        for rel in self.files[rank::world_size]:
            if rel not in written and not folder.exists(self.out_names[rel]):
                writer.start(rel, self.out_names[rel])
                writer.commit()
        self.stat_update("attribute_files", value=len(written))
        yield from ()


# The taggers built in this process, by request. datatrove's local executor runs many tasks in each of its
# `workers` processes; keeping the loaded models here means a process loads them once, as a pool worker of
# the single-process runner does, so tasks can be many (small, balanced) without paying model loading each.
_TAGGERS_BY_REQUEST: dict[str, list] = {}


def _process_taggers(features: list[str], options: dict[str, Any]) -> list:
    key = json.dumps([features, options], sort_keys=True, default=str)
    if key not in _TAGGERS_BY_REQUEST:
        _TAGGERS_BY_REQUEST[key] = build_taggers(features, options)
    return _TAGGERS_BY_REQUEST[key]


class _FileWriter:
    """Streams one attributes file to a hidden temporary name; ``commit`` moves it into place."""

    def __init__(self, folder, schema, request: dict):
        self.folder, self.schema, self.request = folder, schema, request
        self.source: str | None = None

    def start(self, source: str, target: str) -> None:
        import pyarrow.parquet as pq

        self.source, self.target = source, target
        self.tmp = fresh_tmp_name(self.folder, target, f"{id(self):x}")
        meta = {META_KEY: json.dumps({**self.request, "source": source}).encode()}
        self.fh = self.folder.open(self.tmp, "wb")
        self.pq = pq.ParquetWriter(self.fh, self.schema.with_metadata(meta))
        self.rows = 0

    def add(self, rows: list[dict]) -> None:
        import pyarrow as pa

        names = self.schema.names
        plain = [n.partition(SEP)[2] or n for n in names]
        pairs = list(zip(names, plain, strict=True))
        table = pa.Table.from_pylist([{k: r.get(c) for k, c in pairs} for r in rows], schema=self.schema)
        self.pq.write_table(table)
        self.rows += len(rows)

    def commit(self) -> str:
        if self.rows == 0:
            self.pq.write_table(self.schema.empty_table())
        self.pq.close()
        self.fh.close()
        self.folder.mv(self.tmp, self.target)
        source, self.source = self.source, None
        assert source is not None, "commit() without open()"
        return source


@dataclass
class PipelineSummary:
    output: str
    files: int
    already_done: int
    documents: int = 0
    run: StageRun = field(default_factory=lambda: StageRun(True))

    def line(self) -> str:
        if not self.run.complete:
            return self.run.message
        done = f" ({self.already_done} already there, skipped)" if self.already_done else ""
        return f"attributes for {self.files} input file(s){done}: {self.documents} document rows in {self.output}"


def _remove_outputs(out, targets: Iterable[str], logging_root: str) -> None:
    """``--overwrite``: the attributes files and datatrove's completion records go."""
    for rel in targets:
        if out.exists(rel):
            out.rm(rel)
    logs = get_datafolder(logging_root)
    if logs.exists(""):
        logs.rm("", recursive=True)


def _finished_outputs(out, targets: Iterable[str], request: dict[str, Any]) -> int:
    """How many attributes files exist already; an error if one was made for another request."""
    done = 0
    for target in targets:
        previous = read_request(out, target)
        if previous is None:
            continue
        previous.pop("source", None)
        changed = changed_fields(previous, request)
        if changed:
            raise TaggingError(f"{out.resolve_paths(target)} holds attributes of another request (different "
                               f"{', '.join(changed)}); use another --output folder or pass --overwrite")
        done += 1
    return done


def run_tagging_pipeline(
    input: str,
    output: str,
    features: str | Sequence[str],
    opts: ExecutorOptions,
    *,
    text_column: str = "text",
    resps_format: bool = False,
    id_column: str | None = None,
    strict: bool = False,
    batch_size: int = 64,
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
    plugins: Sequence[str] = (),
) -> PipelineSummary:
    """Tag ``input`` (file or folder, any fsspec URL) into attributes files under ``output`` with ``opts``'s
    executor; see the module docstring. Problems found before launching raise with the fix in the message."""
    import pyarrow.parquet as pq

    names = resolve_features(features)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    input_folder, files = list_inputs(str(input))
    out_names = dict(zip(files, mirrored_names(files, ".parquet"), strict=True))
    request = {"format": ATTRIBUTES_FORMAT, "features": names, "options": options, "text_column": text_column,
               "resps_format": resps_format, "id_column": id_column}
    out = get_datafolder(str(output))
    logging_root = opts.logging_dir or out.resolve_paths(f".datatrove/tag-{fingerprint(request, input_folder, files)}")
    if overwrite:
        _remove_outputs(out, out_names.values(), logging_root)
    done = _finished_outputs(out, out_names.values(), request)
    todo = [f for f in files if not out.exists(out_names[f])]
    if todo:  # a wrong --text_column fails here, in one line, not inside N tasks
        next(file_documents(get_datafolder(input_folder), todo[0], single_file=len(files) == 1,
                            text_column=text_column, resps_format=resps_format, id_column=id_column,
                            strict=strict, report=ReadReport()), None)
    keep_meta = any(getattr(tagger_class(n), "uses_meta", False) for n in names)
    reader = DocumentReader(input_folder, files, text_column=text_column, resps_format=resps_format,
                            id_column=id_column, strict=strict, keep_meta=keep_meta, skip_empty=SKIP_EMPTY,
                            skip_done=AttributesExist(str(output), out_names))
    step = TaggerStep(str(output), files, names, options, request, batch_size, plugins)
    tasks = min(opts.tasks, len(files))  # datatrove deals whole files to tasks: more tasks would idle
    if tasks != opts.tasks and opts.shard is None:
        opts = opts.model_copy(update={"tasks": tasks})
    summary = PipelineSummary(out.resolve_paths(""), len(files), done)
    summary.run = run_stages([Pipeline("tag", [reader, step], opts.tasks)], opts, logging_root)
    if summary.run.complete:
        for target in out_names.values():
            with out.open(target, "rb") as fh:
                summary.documents += pq.ParquetFile(fh).metadata.num_rows
    return summary
