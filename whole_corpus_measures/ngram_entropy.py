"""Exact whole-corpus next-token entropy H(next | previous n tokens), with memory bounded by spilling to disk.

Counting: every (context, next) event inside a document — ``n`` previous tokens and the token after them —
is packed into an exact integer key of ``(n + 1) · b`` bits (``b`` = bits per token id), stored as one or
more ``uint64`` words, so sorting keys sorts by (context, next). Each chunk of documents becomes a *run*:
sorted unique keys with counts (``np.sort``/``np.lexsort`` + ``np.add.reduceat``). Runs are merged in memory;
when they exceed the budget (``max_memory_mb``) they are written to disk and, at the end, k-way merged in
blocks whose boundaries fall between contexts, so every context's distribution is complete when it is used
(with more runs than one merge can read within the budget, groups are first merged into longer runs on disk:
an external merge sort). Spilled runs are read with plain file reads, never memory-mapped.
Counts are pooled across documents; no document is dropped; contexts never span two documents.

For a context ``x`` with next-token counts ``c_j`` and total ``C``:
``H(x) = log2 C − Σ c_j log2 c_j / C`` (bits). Reported per order ``n``:

* ``conditional_entropy_bits`` — count-weighted ``Σ_x C_x/N · H(x)`` = H(next | context) of the corpus;
* ``mean_context_entropy_bits`` — the paper's unweighted mean of ``H(x)`` over distinct contexts;
* median and percentiles of ``H(x)`` over contexts (exact, :mod:`whole_corpus_measures.quantiles`);
* ``contexts`` (distinct), ``events`` (predicted tokens N), ``distinct_ngrams``.

``n = 0`` gives the unigram entropy H(next).
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Sequence

import numpy as np

from whole_corpus_measures.quantiles import StreamingQuantiles

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
_ENTRY_OVERHEAD = 3  # sorting needs the keys, an order array and a sorted copy: ~3x the run's bytes


@dataclass
class KeySpec:
    """How (context, next) windows of ``n + 1`` token ids pack into ``words`` uint64 words (word 0 lowest)."""

    n: int
    bits: int  # bits per token id

    @property
    def words(self) -> int:
        return max(1, math.ceil((self.n + 1) * self.bits / 64))

    def pack(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """``windows[j]`` = token j of each window (j = n is the next token, lowest bits) → key words."""
        size = len(windows[0])
        out = [np.zeros(size, dtype=np.uint64) for _ in range(self.words)]
        for j, tok in enumerate(windows):
            tok = tok.astype(np.uint64, copy=False)
            shift = self.bits * (self.n - j)
            w, s = divmod(shift, 64)
            out[w] |= tok << np.uint64(s)  # bits above 64 are dropped here and added to the next word below
            if s + self.bits > 64:
                out[w + 1] |= tok >> np.uint64(64 - s)
        return out

    def context_words(self, words: list[np.ndarray]) -> list[np.ndarray]:
        """The same keys with the next token's bits cleared: equal exactly when contexts are equal."""
        mask = ~np.uint64((1 << self.bits) - 1)
        return [words[0] & mask] + list(words[1:])

    def next_tokens(self, words: list[np.ndarray]) -> np.ndarray:
        return (words[0] & np.uint64((1 << self.bits) - 1)).astype(np.int64)


@dataclass
class Run:
    """Sorted unique keys (``words``, word 0 lowest) with their counts."""

    words: list[np.ndarray]
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def nbytes(self) -> int:
        return sum(w.nbytes for w in self.words) + self.counts.nbytes


def sort_and_count(words: list[np.ndarray], counts: np.ndarray | None = None) -> Run:
    """Sort keys and merge duplicates, summing ``counts`` (1 each when None)."""
    if len(words[0]) == 0:
        return Run([w[:0] for w in words], np.zeros(0, dtype=np.int64))
    order = np.argsort(words[0], kind="stable") if len(words) == 1 else np.lexsort(words)
    words = [w[order] for w in words]
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for w in words:
        change[1:] |= w[1:] != w[:-1]
    starts = np.flatnonzero(change)
    if counts is None:
        new_counts = np.diff(np.append(starts, len(order))).astype(np.int64)
    else:
        new_counts = np.add.reduceat(counts[order], starts)
    return Run([w[starts] for w in words], new_counts)


def merge_runs(runs: Sequence[Run]) -> Run:
    runs = [r for r in runs if len(r)]
    if not runs:
        raise ValueError("no runs to merge")
    if len(runs) == 1:
        return runs[0]
    nw = len(runs[0].words)
    return sort_and_count([np.concatenate([r.words[k] for r in runs]) for k in range(nw)],
                          np.concatenate([r.counts for r in runs]))


@dataclass
class OrderStats:
    """Running totals for one order n; context entropies go to a :class:`StreamingQuantiles`."""

    n: int
    quantiles: StreamingQuantiles
    events: int = 0
    distinct_ngrams: int = 0
    sum_c_log_c: float = 0.0  # Σ over (context, next) of c log2 c
    sum_C_log_C: float = 0.0  # Σ over contexts of C log2 C

    def add_complete_contexts(self, run: Run, spec: KeySpec) -> None:
        """Fold in a sorted run holding every (context, next) count of the contexts it contains."""
        if not len(run):
            return
        ctx = spec.context_words(run.words)
        change = np.zeros(len(run), dtype=bool)
        change[0] = True
        for w in ctx:
            change[1:] |= w[1:] != w[:-1]
        starts = np.flatnonzero(change)
        c = run.counts.astype(np.float64)
        clogc = c * np.log2(c)
        C = np.add.reduceat(c, starts)
        S = np.add.reduceat(clogc, starts)
        h = np.log2(C) - S / C
        np.maximum(h, 0.0, out=h)  # -1e-16 from rounding is 0
        self.quantiles.add(h)
        self.events += int(run.counts.sum())
        self.distinct_ngrams += len(run)
        self.sum_c_log_c += float(clogc.sum())
        self.sum_C_log_C += float((C * np.log2(C)).sum())

    def result(self) -> dict:
        n_ctx = self.quantiles.count
        cond = (self.sum_C_log_C - self.sum_c_log_c) / self.events if self.events else float("nan")
        pct = self.quantiles.percentiles(PERCENTILES)
        return {
            "n": self.n,
            "events": self.events,
            "contexts": n_ctx,
            "distinct_ngrams": self.distinct_ngrams,
            "conditional_entropy_bits": max(cond, 0.0) if self.events else cond,
            "mean_context_entropy_bits": self.quantiles.mean(),
            "std_context_entropy_bits": self.quantiles.std(),
            "median_context_entropy_bits": pct[PERCENTILES.index(50)],
            "percentiles_context_entropy_bits": {f"p{p}": v for p, v in zip(PERCENTILES, pct, strict=False)},
        }


class NgramCounter:
    """Counts (context, next) events of one order ``n`` in bounded memory; see the module docstring."""

    def __init__(self, n: int, vocab_size: int, spill_dir: Path, max_bytes: int, merge_block: int = 1 << 20):
        if n < 0:
            raise ValueError(f"--ngram must be >= 0, got {n}")
        self.spec = KeySpec(n, max(1, int(vocab_size - 1).bit_length()))
        self.vocab_size = vocab_size
        self.dir = Path(spill_dir) / f"n{n}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        # A merge block must hold more than one context's distinct next tokens (≤ vocab) per run, so every
        # block boundary can fall between contexts.
        self.merge_block = merge_block
        self.runs: list[Run] = []
        self.disk_runs: list[Path] = []
        self.spilled = 0  # runs spilled to disk, known once sorted_blocks() has started
        self.merge_passes = 0  # intermediate external-merge passes (more runs than one merge could read)

    @property
    def in_memory_bytes(self) -> int:
        return sum(r.nbytes for r in self.runs)

    @property
    def chunk_tokens(self) -> int:
        """Events sorted at a time: the windows, keys and sort buffers of a chunk stay within the budget."""
        per_event = 8 * (self.spec.n + 1) + 3 * 8 * self.spec.words + 24
        return int(min(max(self.max_bytes // (2 * per_event), 1 << 12), 1 << 22))

    def add_documents(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Add the events of documents whose token ids are ``flat`` (concatenated) with ``lengths``."""
        n = self.spec.n
        if flat.size and int(flat.max()) >= self.vocab_size:
            raise ValueError(f"token id {int(flat.max())} >= vocab size {self.vocab_size}")
        doc_starts = np.cumsum(lengths) - lengths
        step = self.chunk_tokens
        # Chunks are cut by token position, not by document, so one huge document is bounded too.
        for a in range(0, len(flat), step):
            idx = np.arange(a, min(a + step, len(flat)))
            pos = idx - doc_starts[np.searchsorted(doc_starts, idx, side="right") - 1]  # position in its document
            targets = idx[pos >= n]  # a next token with n previous tokens in the same document
            if not len(targets):
                continue
            windows = [flat[targets - n + j] for j in range(n + 1)]
            self.runs.append(sort_and_count(self.spec.pack(windows)))
            del windows, targets, pos, idx
            if _ENTRY_OVERHEAD * self.in_memory_bytes > self.max_bytes:
                merged = merge_runs(self.runs)
                self.runs = [merged]
                if _ENTRY_OVERHEAD * merged.nbytes > self.max_bytes // 2:
                    self._spill(merged)
                    self.runs = []

    def _new_run_dir(self) -> Path:
        self._made = getattr(self, "_made", 0) + 1
        path = self.dir / f"run{self._made:05d}"
        path.mkdir()
        return path

    def _spill(self, run: Run) -> None:
        path = self._new_run_dir()
        append_run(path, run)
        self.disk_runs.append(path)

    @property
    def _per_entry(self) -> int:
        return 3 * (8 * self.spec.words + 8)  # key words + count, ~3x while merging and sorting

    @property
    def _min_block(self) -> int:
        # A block must hold more than one context's distinct next tokens (≤ vocab) per run, so that every
        # block boundary can fall between contexts.
        return max(4 * self.vocab_size, 16)

    def finish(self, stats: OrderStats) -> int:
        """Feed every context's complete counts to ``stats``; returns the number of runs spilled to disk."""
        for block in self.sorted_blocks():
            stats.add_complete_contexts(block, self.spec)
        return self.spilled

    def add_disk_run(self, path: Path) -> None:
        """Take a sorted run written elsewhere (``w{k}.u64``, ``counts.i64``; e.g. by another task) into the merge.

        The folder belongs to the counter from then on: an external merge pass may delete it.
        """
        self.disk_runs.append(Path(path))

    def sorted_blocks(self) -> Iterable[Run]:
        """Every counted (context, next) key with its total count, as sorted runs in key order; every context
        lies wholly inside one run, so each can be finalised (or written out as one sorted run) on its own."""
        self.spilled = 0
        if not self.disk_runs:
            if self.runs:
                yield merge_runs(self.runs)
            return
        if self.runs:
            self._spill(merge_runs(self.runs))
            self.runs = []
        self.spilled = len(self.disk_runs)
        # External merge sort: while more runs than one merge can read within the budget, merge groups of
        # them into longer runs on disk (each pass halves the count at least), then merge the rest.
        fan_in = max(2, self.max_bytes // (self._per_entry * self._min_block))
        while len(self.disk_runs) > fan_in:
            self.merge_passes += 1
            merged_paths = []
            for g in range(0, len(self.disk_runs), fan_in):
                group = self.disk_runs[g:g + fan_in]
                if len(group) == 1:
                    merged_paths.append(group[0])
                    continue
                out = self._new_run_dir()
                for block in self._merged(group):
                    append_run(out, block)
                for path in group:
                    shutil.rmtree(path, ignore_errors=True)
                merged_paths.append(out)
            self.disk_runs = merged_paths
        yield from self._merged(self.disk_runs)

    def _merged(self, paths: list[Path]) -> Iterable[Run]:
        """k-way merge of sorted runs on disk: yields sorted runs of complete contexts, in key order."""
        nw = self.spec.words
        runs = [([_RawBlocks(p / f"w{k}.u64", np.uint64) for k in range(nw)], _RawBlocks(p / "counts.i64", np.int64))
                for p in paths]
        pos = [0] * len(runs)
        # blocks of all runs together stay within the budget (fan-in keeps this above the minimum block)
        B = max(min(self.merge_block, self.max_bytes // (self._per_entry * len(runs))), self._min_block)
        while any(p < len(r[1]) for p, r in zip(pos, runs, strict=False)):
            blocks = []
            for i, (run_words, run_counts) in enumerate(runs):
                if pos[i] < len(run_counts):
                    end = min(pos[i] + B, len(run_counts))
                    blocks.append((i, [w.read(pos[i], end) for w in run_words], run_counts.read(pos[i], end),
                                   end < len(run_counts)))
            # frontier: the smallest last context among blocks whose run continues; contexts below it are
            # complete in every run (runs are sorted), so they can be finalised now.
            frontier = None
            for _, words, _, more in blocks:
                if more:
                    last = [w[-1:] for w in self.spec.context_words(words)]
                    if frontier is None or _lex_less(last, frontier)[0]:
                        frontier = last
            taken_words, taken_counts = [], []
            for i, words, counts, _ in blocks:
                # below the frontier: a prefix, since blocks are sorted
                k = len(counts) if frontier is None else int(_lex_less(self.spec.context_words(words), frontier).sum())
                taken_words.append([w[:k] for w in words])
                taken_counts.append(counts[:k])
                pos[i] += k
            del blocks
            yield sort_and_count([np.concatenate([tw[k] for tw in taken_words]) for k in range(nw)],
                                 np.concatenate(taken_counts))


def append_run(path: Path, run: Run) -> None:
    """Append a sorted run's arrays to raw files (``w{k}.u64``, ``counts.i64``) in ``path``."""
    with open(path / "counts.i64", "ab") as fh:
        run.counts.astype(np.int64, copy=False).tofile(fh)
    for k, w in enumerate(run.words):
        with open(path / f"w{k}.u64", "ab") as fh:
            w.tofile(fh)


class _RawBlocks:
    """Slices of a raw array file read with plain file reads.

    Not a memory map: mapped pages that were read stay in the process's resident set, which would make a
    merge of runs larger than RAM look (and be accounted) as if it held them all.
    """

    def __init__(self, path: Path, dtype):
        self.path = str(path)
        self.dtype = np.dtype(dtype)
        self.size = Path(path).stat().st_size // self.dtype.itemsize if Path(path).exists() else 0

    def __len__(self) -> int:
        return self.size

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.fromfile(self.path, dtype=self.dtype, count=stop - start, offset=start * self.dtype.itemsize)


def _lex_less(words: list[np.ndarray], other: list[np.ndarray]) -> np.ndarray:
    """Element-wise ``words < other`` for multi-word keys (word -1 most significant); ``other`` broadcasts."""
    less = np.zeros(len(words[0]), dtype=bool)
    equal = np.ones(len(words[0]), dtype=bool)
    for w, o in zip(reversed(words), reversed(other), strict=False):
        less |= equal & (w < o)
        equal &= w == o
    return less


@dataclass
class EntropyResult:
    orders: list[dict]
    documents: int
    empty_documents: int
    tokens: int
    spilled_runs: dict = field(default_factory=dict)


def corpus_entropy(
    token_batches: Iterable[tuple[np.ndarray, np.ndarray]],
    orders: Sequence[int],
    vocab_size: int,
    *,
    max_memory_mb: float = 2048,
    tmp_dir: str | Path | None = None,
    merge_block: int = 1 << 20,
    max_context_entropies_in_memory: int | None = None,
) -> EntropyResult:
    """Entropy for each order in ``orders`` over batches of ``(flat token ids, document lengths)``.

    ``max_memory_mb`` bounds the counts held in memory (shared by the orders); beyond it sorted runs go to
    a temporary folder under ``tmp_dir`` (removed at the end). ``merge_block`` (entries read per run per
    step of the k-way merge; at least 4 × vocab) and ``max_context_entropies_in_memory`` (default from the
    budget) only change how the work is cut, never the result; tests use small values to force those paths.
    """
    orders = sorted(set(int(n) for n in orders))
    work = Path(tempfile.mkdtemp(prefix="njsl-entropy-", dir=tmp_dir))
    try:
        per_order = order_budget(max_memory_mb, len(orders))
        counters = {n: NgramCounter(n, vocab_size, work, per_order, merge_block) for n in orders}
        docs = empty = tokens = 0
        for flat, lengths in token_batches:
            docs += len(lengths)
            empty += int((lengths == 0).sum())
            tokens += int(lengths.sum())
            for counter in counters.values():
                counter.add_documents(flat, lengths)
        results = [finish_order(counter, per_order, max_context_entropies_in_memory) for counter in counters.values()]
        return EntropyResult(results, docs, empty, tokens, {r["n"]: r["spilled_runs"] for r in results})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def order_budget(max_memory_mb: float, n_orders: int) -> int:
    """Bytes each order's counter may hold: half the budget for counts, half for the merge and quantiles."""
    return max(int(max_memory_mb * 1e6) // (2 * n_orders), 1 << 10)


def finish_order(counter: NgramCounter, per_order: int, max_context_entropies_in_memory: int | None = None) -> dict:
    """The entropy figures of one order from everything ``counter`` holds (in memory and its disk runs)."""
    # float64 context entropies held before spilling: a quarter of the order's budget
    q_cap = max_context_entropies_in_memory or max(per_order // 32, 1 << 12)
    # passes over spilled values read blocks of half that, so selection stays within the budget too
    stats = OrderStats(counter.spec.n, StreamingQuantiles(counter.dir, max_in_memory=q_cap,
                                                          block=max(q_cap // 2, 1024)))
    spilled = counter.finish(stats)
    res = stats.result()
    res["spilled_runs"] = spilled
    res["merge_passes"] = counter.merge_passes
    res["context_entropies_spilled"] = stats.quantiles.spilled
    counter.runs = []
    return res
