"""Inputs and outputs on any fsspec path, and the document reader as a datatrove step.

:class:`DocumentReader` reads our formats (jsonl(.gz/.zst), parquet, Arrow) through fsspec with the same
record parsing, ids, text columns and lm-eval ``resps`` layout as :func:`njsl.documents.iter_documents`, so a
scaled-out run sees exactly the documents (and ids) of today's single-process path. datatrove's own readers
are not used because they name documents ``<path>/<line>``, drop empty documents silently and have no
``resps[0][0]`` layout.
"""
from __future__ import annotations

import json
import uuid
from pathlib import PurePosixPath
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document as DTDocument
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolder, get_datafolder
from datatrove.pipeline.base import PipelineStep

from njsl.documents import (
    JSONL_SUFFIXES,
    Document,
    DocumentFormatError,
    ReadReport,
    arrow_records,
    decompressed_lines,
    documents_from_records,
    file_kind,
    jsonl_records,
    parquet_records,
)

FILE_KEY = "njsl_file"  # metadata key: the input file (relative to the input folder) a document came from
DATA_SUFFIXES = tuple(sorted(JSONL_SUFFIXES + (".parquet", ".arrow"), key=len, reverse=True))


def list_inputs(input: str) -> tuple[str, list[str]]:
    """``(folder URL, data files relative to it)`` for a file or folder on any fsspec filesystem, sorted.

    A single file is its own folder's only input. Hidden files and folders (``.name``) are ignored, so
    work folders next to the data never count as data.
    """
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    fs, path = url_to_fs(input)
    if not fs.exists(path):
        raise FileNotFoundError(f"input not found: {input}")
    if fs.isfile(path):
        if file_kind(path) is None:
            raise DocumentFormatError(f"{input}: not a jsonl(.gz/.zst), parquet or arrow file")
        parent = fs._parent(path)
        return (parent if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(parent)), [PurePosixPath(path).name]
    folder = get_datafolder(input)
    if folder.exists("dataset_info.json") or folder.exists("state.json"):
        raise DocumentFormatError(f"{input}: an HF save_to_disk folder is read as one unit by the single-process "
                                  "path only; drop --executor/--tasks, or export it to parquet/jsonl files")
    files = [f for f in folder.list_files(recursive=True)
             if file_kind(f) is not None and not any(part.startswith(".") for part in PurePosixPath(f).parts)]
    if not files:
        raise DocumentFormatError(f"no jsonl/parquet/arrow files under {input}")
    return input, files


def strip_data_suffix(rel: str) -> str:
    """``a/b.jsonl.gz`` -> ``a/b``: the stem an output mirroring this input file is named after."""
    low = rel.lower()
    for suffix in DATA_SUFFIXES:
        if low.endswith(suffix):
            return rel[: -len(suffix)]
    return rel


def mirrored_names(files: list[str], suffix: str) -> list[str]:
    """One output name per input file (``a/b.jsonl.gz`` -> ``a/b<suffix>``); refuses two inputs on one name."""
    out = [strip_data_suffix(f) + suffix for f in files]
    seen: dict[str, str] = {}
    for f, o in zip(files, out, strict=True):
        if o in seen:
            raise DocumentFormatError(f"inputs {seen[o]} and {f} would both write {o}; rename one of them")
        seen[o] = f
    return out


def read_file_records(folder: DataFolder, rel: str, *, strict: bool, report: ReadReport) -> Iterator[tuple]:
    """``(file, row, record)`` of one input file opened through fsspec (see :mod:`njsl.documents`)."""
    kind = file_kind(rel)
    with folder.open(rel, "rb") as fh:
        if kind == "jsonl":
            yield from jsonl_records(rel, decompressed_lines(rel, fh), strict=strict, report=report)
        elif kind == "parquet":
            yield from parquet_records(rel, fh)
        elif kind == "arrow":
            yield from arrow_records(rel, fh)
        else:
            raise DocumentFormatError(f"unsupported input format: {rel}")


def file_documents(folder: DataFolder, rel: str, *, single_file: bool, text_column: str = "text",
                   resps_format: bool = False, id_column: str | None = None, strict: bool = False,
                   skip_empty: bool = True, report: ReadReport | None = None) -> Iterator[Document]:
    """Our documents of one input file, ids as :func:`njsl.documents.iter_documents` gives them."""
    report = report if report is not None else ReadReport()
    records = read_file_records(folder, rel, strict=strict, report=report)
    yield from documents_from_records(records, single_file=single_file, text_column=text_column,
                                      resps_format=resps_format, id_column=id_column, skip_empty=skip_empty,
                                      report=report)


def to_njsl(doc: DTDocument) -> Document:
    return Document(doc.id, doc.text, {k: v for k, v in doc.metadata.items() if k != FILE_KEY})


class DocumentReader(PipelineStep):
    """Reads this task's share of the input files (file ``k`` goes to task ``k mod tasks``), file by file.

    Each document carries its input file in ``metadata["njsl_file"]``; a step that writes one output per input
    file uses it. ``skip_done(rel)`` (optional) names files whose output already exists, so they are not read
    again (incremental runs). Read problems are counted in the step's stats (``malformed_lines``, ``empty``).
    """

    name = "njsl documents"
    type = "📖 - READER"

    def __init__(self, input_folder: str, files: list[str], *, text_column: str = "text", resps_format: bool = False,
                 id_column: str | None = None, strict: bool = False, skip_empty: bool = True, keep_meta: bool = False,
                 skip_done: Any = None, limit: int | None = None):
        super().__init__()
        self.limit = limit  # documents per task
        self.report = ReadReport()  # what this task's files had to skip (read by steps that summarise a task)
        self.input_folder = input_folder
        self.files = list(files)
        self.options: dict[str, Any] = {"text_column": text_column, "resps_format": resps_format,
                                        "id_column": id_column, "strict": strict, "skip_empty": skip_empty}
        self.keep_meta = keep_meta
        self.skip_done = skip_done

    def shard(self, rank: int, world_size: int) -> list[str]:
        return self.files[rank::world_size]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        folder = get_datafolder(self.input_folder)
        self.report = ReadReport()
        n = 0
        for rel in self.shard(rank, world_size):
            if self.skip_done is not None and self.skip_done(rel):
                self.stat_update("input_files_already_done")
                continue
            self.stat_update("input_files")
            report = ReadReport()
            for doc in file_documents(folder, rel, single_file=len(self.files) == 1, report=report, **self.options):
                if self.limit is not None and n >= self.limit:
                    break
                n += 1
                meta = {FILE_KEY: rel, **(doc.meta if self.keep_meta else {})}
                self.stat_update("documents")
                yield DTDocument(text=doc.text, id=doc.id, metadata=meta)
            self.report.malformed_lines += [(folder.resolve_paths(f), n, why) for f, n, why in report.malformed_lines]
            self.report.empty_documents += report.empty_documents
            self.report.decode_replacements += report.decode_replacements
            if report.malformed_lines:
                self.stat_update("malformed_lines", value=len(report.malformed_lines))
            if report.empty_documents:
                self.stat_update("empty", value=report.empty_documents)


def fresh_tmp_name(folder: DataFolder, rel: str, suffix: str) -> str:
    """The hidden temporary name ``.NAME.tmp-SUFFIX`` to write ``rel`` under, after removing the ones a task
    killed while writing ``rel`` left behind (their suffixes are the killed writer's; one task writes a file)."""
    p = PurePosixPath(rel)
    for stale in folder.glob(str(p.with_name(f".{p.name}.tmp-*"))):
        folder.rm(stale)
    return str(p.with_name(f".{p.name}.tmp-{suffix}"))


def write_bytes_atomic(folder: DataFolder, rel: str, write: Any) -> None:
    """Write ``rel`` in ``folder`` through ``write(fh)`` under a hidden temporary name, then move it into place.

    Locally the move is a rename (atomic); on object stores a finished upload appears whole. A killed task
    leaves at most a ``.name.tmp-*`` file, never a truncated file under the real name; the next write of
    ``rel`` removes it.
    """
    tmp = fresh_tmp_name(folder, rel, uuid.uuid4().hex[:8])
    try:
        with folder.open(tmp, "wb") as fh:
            write(fh)
        folder.mv(tmp, rel)
    except BaseException:
        if folder.exists(tmp):
            folder.rm(tmp)
        raise


def write_json_atomic(folder: DataFolder, rel: str, obj: Any) -> None:
    write_bytes_atomic(folder, rel, lambda fh: fh.write(json.dumps(obj, indent=1).encode()))
