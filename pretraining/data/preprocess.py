"""Documents (Arrow / HF ``save_to_disk`` / parquet / jsonl(.gz/.zst)) → a Megatron indexed dataset (.bin/.idx).

Pipeline, streaming so memory stays flat in the input size:

1. the main process reads documents with :func:`njsl.documents.iter_documents` (one input file = one shard)
   and cuts them into batches;
2. worker processes tokenize whole batches with one fast-tokenizer call each (at most ``2 × workers``
   batches in flight, so a slow writer never lets the reader run ahead and fill memory);
3. the main process appends each document (+ EOD) with megatron-core's ``IndexedDatasetBuilder``
   (``uint16`` when the vocabulary fits, else ``int32``: ``DType.optimal_dtype``).

Atomicity and resume: each shard is written to ``<work dir>/shard-NNNNN.{bin,idx}`` under temporary names
and committed by a small marker JSON (source hash + settings). A rerun reuses every shard whose marker
matches and redoes the rest. The final pair is assembled under temporary names and renamed in the order
``.bin`` → manifest → ``.idx``: megatron needs the ``.idx``, so until the last rename nothing looks complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np

from njsl.atomic import atomic_open, write_text_atomic
from njsl.documents import JSONL_SUFFIXES, DocumentFormatError, ReadReport, input_files, iter_documents

MANIFEST_FORMAT = "njsl-megatron-manifest/1"
# k-mer tokenizers: the largest share of unknown tokens accepted without --allow_unk. Real DNA has runs of N
# (assembly gaps: ~5% of hg38), each N one unknown token; RNA through a DNA vocabulary gives ~40% (every U).
DEFAULT_MAX_UNK_RATE = 0.10
_SHARD_FORMAT = 1  # bump when the shard layout changes, so old work dirs are not reused


class PreprocessError(ValueError):
    """Bad preprocessing options (tokenizer without an EOS token, bad worker count, ...)."""


@dataclass
class PreprocessResult:
    prefix: Path
    manifest: dict
    resumed_shards: int = 0

    @property
    def bin_path(self) -> Path:
        return self.prefix.with_name(self.prefix.name + ".bin")

    @property
    def idx_path(self) -> Path:
        return self.prefix.with_name(self.prefix.name + ".idx")


# ------------------------------------------------------------------------------------------------ workers
# one tokenizer per worker process, built once by the pool initializer
_WORKER_ENCODE: Callable[[list[str]], Any] | None = None


def _worker_init(payload: tuple[str, str]) -> None:
    global _WORKER_ENCODE
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per worker: the pool is the parallelism
    from tokenization.tokenizer import encoder_from_payload

    _WORKER_ENCODE = encoder_from_payload(payload)


def _encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Tokenize a batch; return (all ids concatenated, ids per document, utf-8 bytes of the batch)."""
    assert _WORKER_ENCODE is not None, "_worker_init runs first (pool initializer, or in-process)"
    ids = _WORKER_ENCODE(texts)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
    return flat, lengths, sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)


class _Encoder:
    """Runs ``_encode`` in-process (1 worker) or in a bounded pool of spawned processes (>1)."""

    def __init__(self, payload: tuple[str, str], workers: int):
        self.workers = workers
        self.pool: Pool | None = None
        if workers > 1:
            # spawn, not fork: the parent may hold Rust tokenizer threads or torch state.
            self.pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(payload,))
        else:
            _worker_init(payload)

    def map(self, batches: Iterator[list[str]]) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        if self.pool is None:
            yield from map(_encode, batches)
            return
        pending: deque = deque()
        for batch in batches:
            pending.append(self.pool.apply_async(_encode, (batch,)))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _close_all(encoders: list[_Encoder]) -> None:
    for e in encoders:
        e.close()


# ------------------------------------------------------------------------------------------------ helpers
def _megatron_indexed():
    with warnings.catch_warnings():  # megatron warns about missing Apex/TE at import; irrelevant here
        warnings.simplefilter("ignore")
        from megatron.core.datasets import indexed_dataset
    return indexed_dataset


def default_output_name(input_path: str | os.PathLike, text_column: str = "text") -> str:
    """Megatron's naming: ``<input stem>_<text column>_document``."""
    name = Path(input_path).name
    for suffix in sorted(JSONL_SUFFIXES + (".parquet", ".arrow"), key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}_{text_column}_document"


def hash_source(path: Path) -> str:
    """sha256 of a file, or of every file (names + bytes) of a folder such as an HF ``save_to_disk`` dataset."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _batches(docs, report_texts: list | None, batch_docs: int, batch_chars: int) -> Iterator[list[str]]:
    batch: list[str] = []
    chars = 0
    for doc in docs:
        if report_texts is not None:
            report_texts.append(doc)
        batch.append(doc.text)
        chars += len(doc.text)
        if len(batch) >= batch_docs or chars >= batch_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _remove_quietly(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


@dataclass
class _ShardStats:
    documents: int = 0
    tokens: int = 0
    text_bytes: int = 0
    empty_documents: int = 0
    malformed_lines: int = 0
    decode_replacements: int = 0
    unknown_tokens: int = 0
    first_malformed: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ main API
def preprocess(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    tokenizer: str,
    *,
    workers: int = 1,
    json_dir: str | os.PathLike | None = None,
    text_column: str = "text",
    append_eod: bool = True,
    limit: int | None = None,
    keep_jsonl: bool = False,
    output_prefix: str | None = None,
    batch_docs: int = 256,
    batch_chars: int = 1 << 20,
    progress: bool | None = None,
    overwrite: bool = False,
    allow_unk: bool = False,
    max_unk_rate: float = DEFAULT_MAX_UNK_RATE,
) -> PreprocessResult:
    """Tokenize every document under ``input_path`` into ``<output_dir>/<name>.{bin,idx}`` + manifest.

    ``json_dir`` holds the per-shard work files (resume state) and, with ``keep_jsonl``, the intermediate
    jsonl of exactly the documents written; it defaults to ``output_dir``. ``limit`` caps the number of
    (non-empty) documents. Returns the prefix and the manifest (also written to ``<prefix>.manifest.json``).

    Refused with a :class:`PreprocessError` (one line; nothing written or replaced): an output or json folder
    that is a file; an output folder holding another tokenizer's output (unless ``overwrite``); an input without
    a single non-empty document; for k-mer tokenizers, more than ``max_unk_rate`` unknown tokens (e.g. RNA into a
    DNA vocabulary; unless ``allow_unk``). The manifest records the unknown-token count and rate.
    """
    t0 = time.time()
    output_dir, json_dir = _checked_folders(workers, limit, output_dir, json_dir)
    input_path = Path(input_path)
    sources = input_files(input_path)  # FileNotFoundError / DocumentFormatError name the problem
    tok = _load_checked_tokenizer(tokenizer, append_eod)
    idx_mod = _megatron_indexed()
    dtype = idx_mod.DType.optimal_dtype(tok.vocab_size)
    name = output_prefix or default_output_name(input_path, text_column)
    prefix = output_dir / name
    payload = tok.worker_payload()
    settings = _shard_settings(tok, payload, append_eod, text_column, dtype)
    if not overwrite:
        check_output_folder(output_dir, prefix, settings)
    unk_id = kmer_unknown_id(tok)
    output_dir.mkdir(parents=True, exist_ok=True)
    work = _work_dir(json_dir, name)
    encoder: list[_Encoder] = []  # started on the first shard that needs tokenizing

    with contextlib.ExitStack() as stack:
        stack.callback(_close_all, encoder)
        # the intermediate jsonl commits (renames) only when the with-block ends without error
        jsonl_fh = (stack.enter_context(atomic_open(json_dir / f"{name}.jsonl", "w", encoding="utf-8"))
                    if keep_jsonl else None)

        def write(src: Path, shard: Path, limit: int | None) -> _ShardStats:  # one shard, through the encoder
            if not encoder:
                encoder.append(_Encoder(payload, workers))
            return _write_shard(src, shard, encoder[0], idx_mod, dtype, tok.eod_id if append_eod else None,
                                text_column, limit, jsonl_fh, batch_docs, batch_chars, progress, unk_id)

        shard_infos, resumed = _shards(sources, work, settings, limit, keep_jsonl, progress, write)
        try:
            _refuse_content(shard_infos, tok.spec, input_path, unk_id, append_eod, allow_unk, max_unk_rate)
        except PreprocessError:
            shutil.rmtree(work, ignore_errors=True)  # nothing half-written stays behind
            raise
        manifest = _assemble(prefix, work, shard_infos, idx_mod, dtype, tok, settings, t0, workers, limit,
                             input_path)
    shutil.rmtree(work, ignore_errors=True)
    return PreprocessResult(prefix, manifest, resumed)


def _checked_folders(workers: int, limit: int | None, output_dir: str | os.PathLike,
                     json_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    """(output folder, json folder) as paths, the json folder defaulting to the output folder; bad arguments
    refused before anything is read or written."""
    output_dir = Path(output_dir)
    json_dir = Path(json_dir) if json_dir is not None else output_dir
    if workers < 1:
        raise PreprocessError(f"workers must be >= 1, got {workers}")
    if limit is not None and limit < 1:
        raise PreprocessError(f"--limit must be >= 1, got {limit}")
    for flag, folder in (("--output_dir", output_dir), ("--json_dir", json_dir)):
        if folder.exists() and not folder.is_dir():
            raise PreprocessError(f"{flag}: {folder} is a file, not a folder; give a folder path")
    return output_dir, json_dir


def _work_dir(json_dir: Path, name: str) -> Path:
    """The folder of per-shard work files (resume state), without a killed run's temporary files."""
    work = json_dir / f".{name}.work"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("*.tmp*"):  # leftovers of a killed run: never reused
        _remove_quietly(stale)
    return work


def _shards(sources: list[Path], work: Path, settings: dict, limit: int | None, keep_jsonl: bool,
            progress: bool | None, write: Callable[[Path, Path, int | None], _ShardStats]) -> tuple[list[dict], int]:
    """(marker record of every shard needed for ``limit`` documents, how many were reused)."""
    from tqdm import tqdm

    infos: list[dict] = []
    resumed, remaining = 0, limit
    for i, src in enumerate(tqdm(sources, desc="shards", unit="shard",
                                 disable=None if progress is None else not progress)):
        if remaining is not None and remaining <= 0:
            break
        info, reused = _shard_info(work / f"shard-{i:05d}", src, settings, remaining, keep_jsonl, write)
        resumed += reused
        infos.append(info)
        if remaining is not None:
            remaining -= info["stats"]["documents"]
    return infos, resumed


def _shard_info(shard: Path, src: Path, settings: dict, remaining: int | None, keep_jsonl: bool,
                write: Callable[[Path, Path, int | None], _ShardStats]) -> tuple[dict, bool]:
    """(the shard's marker record, reused?): a finished shard made with the same settings is reused (resume),
    anything else is tokenized again by ``write``; the marker is the shard's commit point."""
    marker = shard.with_suffix(".json")
    expected = {**settings, "source": str(src.resolve()), "sha256": hash_source(src), "limit": remaining}
    info = _read_marker(marker)
    if (info is not None and info.get("key") == expected and not keep_jsonl
            and all(Path(str(shard) + s).exists() for s in (".bin", ".idx"))):
        return info, True
    _remove_quietly(marker)
    stats = write(src, shard, remaining)
    info = {"key": expected, "stats": stats.__dict__, "bytes": _size(src)}
    write_text_atomic(marker, json.dumps(info, indent=1))
    return info, False


def _load_checked_tokenizer(spec: str, append_eod: bool):
    from tokenization.tokenizer import load_tokenizer

    tok = load_tokenizer(spec)
    if append_eod and tok.eod_id is None:
        raise PreprocessError(f"tokenizer {spec!r} has no EOS token to append as end-of-document; "
                              "pick a tokenizer with one, or pass --no_append_eod")
    return tok


def _shard_settings(tok, payload, append_eod: bool, text_column: str, dtype) -> dict:
    """What a finished shard must have been made with to be reused on resume."""
    return {
        "format": _SHARD_FORMAT, "tokenizer": tok.spec, "vocab_size": tok.vocab_size, "eod_id": tok.eod_id,
        # the tokenizer's content, not just its name: a retrained tokenizer in the same folder invalidates shards
        "tokenizer_sha256": hashlib.sha256("\0".join(payload).encode("utf-8", "surrogatepass")).hexdigest(),
        "append_eod": append_eod, "text_column": text_column, "dtype": np.dtype(dtype).name,
    }


def check_output_folder(output_dir: Path, prefix: Path, settings: dict) -> None:
    """Refuse an output folder holding data of another tokenizer (mixing them breaks every mix built on it)."""
    if not output_dir.is_dir():
        return
    for manifest_path in sorted(output_dir.glob("*.manifest.json")):
        try:
            tok = json.loads(manifest_path.read_text(encoding="utf-8")).get("tokenizer") or {}
        except ValueError:
            tok = {}
        same = (tok.get("sha256") == settings["tokenizer_sha256"] if tok.get("sha256") else
                (tok.get("name"), tok.get("vocab_size"), tok.get("eod_id")) ==
                (settings["tokenizer"], settings["vocab_size"], settings["eod_id"]))
        if not same:
            raise PreprocessError(f"--output_dir: {output_dir} holds {manifest_path.name}, preprocessed with "
                                  f"tokenizer {tok.get('name')!r} (vocab {tok.get('vocab_size')}), not "
                                  f"{settings['tokenizer']!r}; use another folder, or --overwrite to write beside it")
    if Path(f"{prefix}.bin").exists() and not Path(f"{prefix}.manifest.json").exists():
        raise PreprocessError(f"--output_dir: {prefix}.bin exists without a manifest (tokenizer unknown); use "
                              "another folder or --output_prefix, or --overwrite to replace it")


def kmer_unknown_id(tok) -> int | None:
    """The unknown-token id of a k-mer tokenizer (a k-mer name, or a saved folder of one); None otherwise."""
    from tokenization.kmer import is_kmer_name

    impl = getattr(tok, "_impl", None)
    if is_kmer_name(tok.spec) or (getattr(impl, "init_kwargs", None) or {}).get("kmer_spec"):
        return getattr(impl, "unk_token_id", None)
    return None


def unknown_rate(shard_infos: list[dict], append_eod: bool) -> tuple[int, float]:
    """(unknown tokens, their share of the text tokens, end-of-document ids excluded)."""
    unk = sum(int(s["stats"].get("unknown_tokens", 0)) for s in shard_infos)
    text = sum(int(s["stats"]["tokens"]) - (int(s["stats"]["documents"]) if append_eod else 0) for s in shard_infos)
    return unk, unk / text if text else 0.0


def _refuse_content(shard_infos, spec, input_path, unk_id, append_eod, allow_unk, max_unk_rate) -> None:
    docs = sum(int(s["stats"]["documents"]) for s in shard_infos)
    if docs == 0:
        empty = sum(int(s["stats"]["empty_documents"]) for s in shard_infos)
        bad = sum(int(s["stats"]["malformed_lines"]) for s in shard_infos)
        raise PreprocessError(f"--input: {input_path} holds no non-empty document ({empty} empty, {bad} malformed "
                              "line(s)); nothing to train on, nothing written")
    unk, rate = unknown_rate(shard_infos, append_eod)
    if unk_id is not None and rate > max_unk_rate and not allow_unk:
        raise PreprocessError(f"--tokenizer: {rate:.1%} of the tokens of {input_path} are unknown to the k-mer "
                              f"tokenizer {spec!r} (above {max_unk_rate:.0%}; RNA into a DNA vocabulary or vice "
                              "versa? use the -rna/-dna variant); pass --allow_unk to keep them, nothing written")


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _read_marker(marker: Path) -> dict | None:
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_shard(src, shard: Path, encoder: _Encoder, idx_mod, dtype, eod_id, text_column, limit, jsonl_fh,
                 batch_docs, batch_chars, progress, unk_id: int | None = None) -> _ShardStats:
    from tqdm import tqdm

    report = ReadReport()
    stats = _ShardStats()
    tmp_bin = Path(f"{shard}.tmp.bin")
    tmp_idx = Path(f"{shard}.tmp.idx")
    kept_docs: list | None = [] if jsonl_fh is not None else None
    docs = iter_documents(src, text_column=text_column, limit=limit, report=report)
    builder = idx_mod.IndexedDatasetBuilder(str(tmp_bin), dtype=dtype)
    eod = np.array([eod_id], dtype=np.int64) if eod_id is not None else None
    bar = tqdm(desc=Path(src).name, unit="doc", disable=None if progress is None else not progress, leave=False)
    try:
        for flat, lengths, nbytes in encoder.map(_batches(docs, kept_docs, batch_docs, batch_chars)):
            offsets = np.concatenate(([0], np.cumsum(lengths)))
            if unk_id is not None:
                stats.unknown_tokens += int(np.count_nonzero(flat == unk_id))
            for k in range(len(lengths)):
                ids = flat[offsets[k]:offsets[k + 1]]
                if eod is not None:
                    ids = np.concatenate((ids, eod))
                builder.add_document(ids, [len(ids)])
                stats.tokens += len(ids)
            stats.documents += len(lengths)
            stats.text_bytes += nbytes
            bar.update(len(lengths))
            if kept_docs:  # the intermediate jsonl holds exactly what was tokenized, in order
                for doc in kept_docs[: len(lengths)]:
                    jsonl_fh.write(json.dumps({"id": doc.id, "text": doc.text}, ensure_ascii=False) + "\n")
                del kept_docs[: len(lengths)]
        builder.finalize(str(tmp_idx))
    except BaseException:
        builder.data_file.close()
        _remove_quietly(tmp_bin, tmp_idx)
        raise
    finally:
        bar.close()
    stats.empty_documents = report.empty_documents
    stats.malformed_lines = len(report.malformed_lines)
    stats.decode_replacements = report.decode_replacements
    stats.first_malformed = [f"{Path(f).name}:{n}: {why}" for f, n, why in report.malformed_lines[:10]]
    os.replace(tmp_bin, f"{shard}.bin")
    os.replace(tmp_idx, f"{shard}.idx")
    return stats


def _assemble(prefix: Path, work: Path, shard_infos, idx_mod, dtype, tok, settings, t0, workers, limit,
              input_path) -> dict:
    final_bin, final_idx = Path(f"{prefix}.bin"), Path(f"{prefix}.idx")
    manifest_path = Path(f"{prefix}.manifest.json")
    tmp_bin, tmp_idx = Path(f"{prefix}.tmp-{os.getpid()}.bin"), Path(f"{prefix}.tmp-{os.getpid()}.idx")
    shards = [work / f"shard-{i:05d}" for i in range(len(shard_infos))]
    try:
        if len(shards) == 1:  # nothing to concatenate
            os.replace(f"{shards[0]}.bin", tmp_bin)
            os.replace(f"{shards[0]}.idx", tmp_idx)
        else:
            builder = idx_mod.IndexedDatasetBuilder(str(tmp_bin), dtype=dtype)
            for shard in shards:
                builder.add_index(str(shard))
            builder.finalize(str(tmp_idx))
    except BaseException:
        _remove_quietly(tmp_bin, tmp_idx)
        raise
    total = lambda key: sum(int(s["stats"][key]) for s in shard_infos)  # noqa: E731
    manifest = {
        "format": MANIFEST_FORMAT,
        "prefix": prefix.name,
        "input": str(input_path),
        "dtype": settings["dtype"],
        "tokenizer": {"name": tok.spec, "kind": tok.kind, "vocab_size": tok.vocab_size, "eod_id": tok.eod_id,
                      "sha256": settings["tokenizer_sha256"]},
        "append_eod": settings["append_eod"],
        "text_column": settings["text_column"],
        "limit": limit,
        "documents": total("documents"),
        "tokens": total("tokens"),
        "text_bytes": total("text_bytes"),
        "source_bytes": sum(s["bytes"] for s in shard_infos),
        "bin_bytes": tmp_bin.stat().st_size,
        "unknown_tokens": unknown_rate(shard_infos, settings["append_eod"])[0],
        "unknown_rate": round(unknown_rate(shard_infos, settings["append_eod"])[1], 6),
        "skipped": {"empty_documents": total("empty_documents"), "malformed_lines": total("malformed_lines"),
                    "decode_replacements": total("decode_replacements")},
        "sources": [{"path": s["key"]["source"], "sha256": s["key"]["sha256"], "bytes": s["bytes"],
                     "documents": s["stats"]["documents"], "tokens": s["stats"]["tokens"],
                     "malformed": s["stats"]["first_malformed"]} for s in shard_infos],
        "workers": workers,
        "seconds": round(time.time() - t0, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # Commit order: drop the old .idx first (an old pair must not pair with a new .bin), then .bin,
    # manifest, and the .idx last: megatron cannot open a prefix without its .idx.
    _remove_quietly(final_idx)
    os.replace(tmp_bin, final_bin)
    write_text_atomic(manifest_path, json.dumps(manifest, indent=1))
    os.replace(tmp_idx, final_idx)
    return manifest


def read_manifest(prefix: str | os.PathLike) -> dict | None:
    """The manifest beside ``prefix`` (``<prefix>.manifest.json``), or None when there is none."""
    path = Path(f"{prefix}.manifest.json")
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DocumentFormatError(f"{path}: manifest is not valid JSON ({exc}); rerun njsl preprocess") from exc
