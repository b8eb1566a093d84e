"""Exact percentiles of a stream of floats with bounded memory.

Values are kept in memory up to ``max_in_memory``; beyond that they are appended to a file on disk and
percentiles are found by selection: a histogram pass narrows each wanted order statistic to one bin, and
further passes narrow that bin until its values fit in memory (or all equal). Results equal
``numpy.percentile(values, q)`` (linear interpolation) exactly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

_BINS = 1 << 16


class StreamingQuantiles:
    def __init__(self, spill_dir: str | os.PathLike, max_in_memory: int = 50_000_000, block: int = 1 << 22):
        self.spill_path = Path(spill_dir) / "context_entropies.f64"
        self.max_in_memory = max_in_memory
        self.block = block
        self._mem: list[np.ndarray] = []
        self._mem_n = 0
        self._disk_n = 0
        self.count = 0
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.count += len(values)
        self.total += float(values.sum())
        self._mem.append(values)
        self._mem_n += len(values)
        if self._mem_n > self.max_in_memory:
            self._flush()

    def _flush(self) -> None:
        with open(self.spill_path, "ab") as fh:
            for v in self._mem:
                fh.write(v.tobytes())
                self._disk_n += len(v)
        self._mem, self._mem_n = [], 0

    @property
    def spilled(self) -> bool:
        return self._disk_n > 0

    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        if self.count == 0:
            return [float("nan")] * len(qs)
        if not self.spilled:
            return [float(x) for x in np.percentile(np.concatenate(self._mem), qs)]
        self._flush()
        ranks = sorted({r for q in qs for r in _ranks(q, self.count)})
        values = {r: self._select(r) for r in ranks}
        out = []
        for q in qs:
            pos = q / 100 * (self.count - 1)
            lo, hi = int(np.floor(pos)), int(np.ceil(pos))
            out.append(_lerp(values[lo], values[hi], pos - lo))
        return out

    def _blocks(self):
        data = np.memmap(self.spill_path, dtype=np.float64, mode="r")
        for start in range(0, len(data), self.block):
            yield np.array(data[start:start + self.block])

    def _select(self, rank: int) -> float:
        """The ``rank``-th smallest value (0-based) of the spilled stream."""
        lo, hi = np.inf, -np.inf
        for b in self._blocks():
            lo, hi = min(lo, b.min()), max(hi, b.max())
        below = 0  # values < lo that are not in the current range
        while True:
            if lo == hi:
                return float(lo)
            edges = np.linspace(lo, hi, _BINS + 1)
            hist = np.zeros(_BINS, dtype=np.int64)
            for b in self._blocks():
                inside = b[(b >= lo) & (b <= hi)]
                hist += np.bincount(np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, _BINS - 1),
                                    minlength=_BINS)
            cum = np.cumsum(hist)
            k = int(np.searchsorted(cum, rank - below, side="right"))
            new_below = below + (int(cum[k - 1]) if k else 0)
            new_lo = edges[k]
            new_hi = edges[k + 1] if k + 1 < _BINS else hi
            if hist[k] <= self.max_in_memory:
                last = k == _BINS - 1
                vals = np.concatenate([b[(b >= new_lo) & ((b <= new_hi) if last else (b < new_hi))]
                                       for b in self._blocks()])
                vals.sort()
                return float(vals[rank - new_below])
            if (new_lo, new_hi) == (lo, hi):  # cannot narrow further (float resolution): all equal within
                return float(new_lo)
            lo, hi, below = new_lo, np.nextafter(new_hi, -np.inf) if k + 1 < _BINS else new_hi, new_below


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's own interpolation (``numpy.lib._function_base_impl._lerp``), so results match bit for bit."""
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


def _ranks(q: float, n: int) -> tuple[int, int]:
    pos = q / 100 * (n - 1)
    return int(np.floor(pos)), int(np.ceil(pos))
