"""Read documents from the formats users have: jsonl(.gz/.zst), parquet, Arrow files, HF ``save_to_disk`` folders.

One reader serves the taggers, the entropy measure, preprocessing and domain classification, so every
stage agrees on ids, text columns and the lm-eval ``--log_samples`` layout (``resps[0][0]``).
Reading streams: memory stays flat in the input size.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".ndjson")


class DocumentFormatError(ValueError):
    """The input cannot be read as documents (unknown format, missing text column, malformed line in strict mode)."""


@dataclass
class Document:
    id: str
    text: str
    meta: dict = field(default_factory=dict)


@dataclass
class ReadReport:
    """What was skipped while reading, so callers can print it instead of hiding it."""
    malformed_lines: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line number, reason)
    empty_documents: int = 0
    decode_replacements: int = 0

    def summary(self) -> str:
        parts = []
        if self.malformed_lines:
            shown = ", ".join(f"{Path(f).name}:{n}" for f, n, _ in self.malformed_lines[:10])
            more = "" if len(self.malformed_lines) <= 10 else f" (+{len(self.malformed_lines) - 10} more)"
            parts.append(f"{len(self.malformed_lines)} malformed line(s) skipped at {shown}{more}")
        if self.empty_documents:
            parts.append(f"{self.empty_documents} empty document(s)")
        if self.decode_replacements:
            parts.append(f"{self.decode_replacements} line(s) with invalid UTF-8 (bytes replaced)")
        return "; ".join(parts) if parts else "no problems"


def input_files(path: str | Path) -> list[Path]:
    """The data files behind ``path`` (a file, or a folder of shards), in a stable order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_file():
        return [path]
    if (path / "dataset_info.json").exists() or (path / "state.json").exists():
        return [path]  # an HF save_to_disk folder is read as one unit
    files = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p) is not None)
    if not files:
        raise DocumentFormatError(f"no jsonl/parquet/arrow files under {path}")
    return files


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if path.is_dir():
        return "hf_dataset"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".arrow"):
        return "arrow"
    return None


def _open_text_lines(path: Path) -> Iterator[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            yield from fh
    elif name.endswith(".zst"):
        import zstandard

        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            yield from io.BufferedReader(reader)
    else:
        with open(path, "rb") as fh:
            yield from fh


def extract_text(record: dict, text_column: str = "text", resps_format: bool = False) -> str | None:
    """The document text of one record: ``record[text_column]``, or ``resps[0][0]`` for lm-eval sample logs.

    Returns None when the record has no such field (the caller decides whether that is fatal).
    """
    if resps_format:
        resps: Any = record.get("resps")
        try:
            value = resps[0][0]
        except (TypeError, IndexError, KeyError):
            return None
        return value if isinstance(value, str) else None
    if text_column not in record:
        return None
    value = record[text_column]
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _record_id(record: dict, id_column: str | None, fallback: str) -> str:
    for key in ([id_column] if id_column else []) + ["id", "doc_id"]:
        if key and record.get(key) is not None:
            return str(record[key])
    return fallback


def iter_records(path: str | Path, *, strict: bool = False,
                 report: ReadReport | None = None) -> Iterator[tuple[str, int, dict]]:
    """Yield ``(file, row_number, record)`` for every row of every input file, streaming.

    Malformed jsonl lines are recorded in ``report`` and skipped, or raise with ``strict``.
    """
    report = report if report is not None else ReadReport()
    for file in input_files(path):
        kind = _kind(file)
        if kind == "jsonl":
            for lineno, raw in enumerate(_open_text_lines(file), start=1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    line = raw.decode("utf-8", errors="replace")
                    report.decode_replacements += 1
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("line is not a JSON object")
                except ValueError as exc:
                    if strict:
                        raise DocumentFormatError(f"{file}:{lineno}: malformed JSON line ({exc})") from exc
                    report.malformed_lines.append((str(file), lineno, str(exc)))
                    continue
                yield str(file), lineno, record
        elif kind == "parquet":
            import pyarrow.parquet as pq

            row = 0
            for batch in pq.ParquetFile(file).iter_batches(batch_size=1024):
                for record in batch.to_pylist():
                    row += 1
                    yield str(file), row, record
        elif kind == "arrow":
            yield from _iter_arrow_file(file)
        elif kind == "hf_dataset":
            import datasets

            ds = datasets.load_from_disk(str(file))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
            for row, record in enumerate(ds, start=1):
                yield str(file), row, record
        else:
            raise DocumentFormatError(f"unsupported input format: {file}")


def _iter_arrow_file(file: Path) -> Iterator[tuple[str, int, dict]]:
    import pyarrow as pa

    with pa.memory_map(str(file), "r") as source:
        try:
            reader = pa.ipc.open_stream(source)  # HF datasets writes the streaming format
        except pa.ArrowInvalid:
            source.seek(0)
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = iter(reader)
        row = 0
        for batch in batches:
            for record in batch.to_pylist():
                row += 1
                yield str(file), row, record


def iter_documents(
    path: str | Path,
    *,
    text_column: str = "text",
    resps_format: bool = False,
    id_column: str | None = None,
    strict: bool = False,
    skip_empty: bool = True,
    limit: int | None = None,
    report: ReadReport | None = None,
) -> Iterator[Document]:
    """Yield documents with stable ids: the record's ``id_column``/``id``/``doc_id``, else ``<file stem>:<row>``
    (the line number for a single input file).

    A record without the text column raises :class:`DocumentFormatError` naming the columns that exist.
    """
    report = report if report is not None else ReadReport()
    files = input_files(path)
    single = len(files) == 1
    n = 0
    for file, row, record in iter_records(path, strict=strict, report=report):
        text = extract_text(record, text_column, resps_format)
        if text is None:
            where = "resps[0][0]" if resps_format else f"text column {text_column!r}"
            raise DocumentFormatError(
                f"{file}:{row}: record has no {where}; its fields are {sorted(record)}. "
                + ("Pass --text_column NAME." if not resps_format else "Drop --resps_format for plain text files.")
            )
        fallback = str(row) if single else f"{Path(file).stem}:{row}"
        doc_id = _record_id(record, id_column, fallback)
        if not text.strip():
            report.empty_documents += 1
            if skip_empty:
                continue
        meta = {k: v for k, v in record.items() if k not in (text_column, "resps")}
        yield Document(doc_id, text, meta)
        n += 1
        if limit is not None and n >= limit:
            return


def shard_of(items: Iterable, shard: tuple[int, int] | None) -> Iterator:
    """Keep every N-th item for shard ``(i, N)`` (0-based i), so N array tasks split one input."""
    if shard is None:
        yield from items
        return
    i, n = shard
    for k, item in enumerate(items):
        if k % n == i:
            yield item


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """Parse ``--shard i/N`` (0-based i < N)."""
    if not spec:
        return None
    try:
        i_str, n_str = spec.split("/")
        i, n = int(i_str), int(n_str)
    except ValueError as exc:
        raise ValueError(f"--shard must look like i/N (e.g. 0/8), got {spec!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {spec}: need 0 <= i < N")
    return i, n
