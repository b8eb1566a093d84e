"""Exact percentiles of a stream of floats with bounded memory.

Values are kept in memory up to ``max_in_memory``; beyond that they are appended to a file on disk and
percentiles are found by selection: a histogram pass narrows each wanted order statistic to one bin, and
further passes narrow that bin until its values fit in memory (or all equal). Results equal
``numpy.percentile(values, q)`` (linear interpolation) exactly.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence

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
        self.total_sq = 0.0  # for the standard deviation without keeping the values

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.count += len(values)
        self.total += float(values.sum())
        self.total_sq += float(np.square(values).sum())
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

    def std(self) -> float:
        """Population standard deviation (ddof 0) of the values added."""
        if not self.count:
            return float("nan")
        mean = self.total / self.count
        return float(np.sqrt(max(self.total_sq / self.count - mean * mean, 0.0)))

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        if self.count == 0:
            return [float("nan")] * len(qs)
        if not self.spilled:
            return [float(x) for x in np.percentile(np.concatenate(self._mem), qs)]
        self._flush()
        values = self._select(sorted({r for q in qs for r in _ranks(q, self.count)}))
        out = []
        for q in qs:
            pos = q / 100 * (self.count - 1)
            lo, hi = _ranks(q, self.count)
            out.append(_lerp(values[lo], values[hi], pos - lo))
        return out

    def _blocks(self):
        # plain reads, not a memory map: read pages of a map would stay resident (see ngram_entropy.NpyBlocks)
        with open(self.spill_path, "rb") as fh:
            while True:
                block = np.fromfile(fh, dtype=np.float64, count=self.block)
                if not len(block):
                    return
                yield block

    def _select(self, ranks: list[int]) -> dict[int, float]:
        """The ``rank``-th smallest values (0-based) of the spilled stream, found together.

        Each round is two passes over the file: a histogram of each open range (65,536 bins), then, for the
        bin holding each rank, either its values (when they fit in memory) or their min and max. A bin whose
        min equals its max answers at once (ties, such as the many contexts with entropy 0); otherwise the
        range shrinks to that [min, max] and the next round splits it again.
        """
        lo, hi = np.inf, -np.inf
        for b in self._blocks():
            lo, hi = min(lo, float(b.min())), max(hi, float(b.max()))
        state = {r: (lo, hi, 0) for r in ranks}  # rank -> (range lo, range hi (inclusive), values below lo)
        result: dict[int, float] = {}
        while state:
            for r, (a, b_, _) in list(state.items()):
                if a == b_:
                    result[r] = a
                    del state[r]
            if not state:
                break
            ranges = {(a, b_) for a, b_, _ in state.values()}
            hists = {rng: np.zeros(_BINS, dtype=np.int64) for rng in ranges}
            edges = {rng: np.linspace(rng[0], rng[1], _BINS + 1) for rng in ranges}
            for blk in self._blocks():
                for (a, b_), hist in hists.items():
                    inside = blk[(blk >= a) & (blk <= b_)]
                    k = np.clip(np.searchsorted(edges[(a, b_)], inside, side="right") - 1, 0, _BINS - 1)
                    hist += np.bincount(k, minlength=_BINS)
            picks = {}
            for r, (a, b_, below) in state.items():
                hist, e = hists[(a, b_)], edges[(a, b_)]
                cum = np.cumsum(hist)
                k = int(np.searchsorted(cum, r - below, side="right"))
                bin_lo = float(e[k])
                bin_hi = b_ if k == _BINS - 1 else float(np.nextafter(e[k + 1], -np.inf))  # bins are [e_k, e_k+1)
                picks[r] = (bin_lo, bin_hi, below + (int(cum[k - 1]) if k else 0), int(hist[k]))
            collected: dict[int, list[np.ndarray]] = {r: [] for r, p in picks.items() if p[3] <= self.max_in_memory}
            mins = {r: np.inf for r in picks}
            maxs = {r: -np.inf for r in picks}
            for blk in self._blocks():
                for r, (a, b_, _, _) in picks.items():
                    sel = blk[(blk >= a) & (blk <= b_)]
                    if not len(sel):
                        continue
                    if r in collected:
                        collected[r].append(sel)
                    mins[r], maxs[r] = min(mins[r], float(sel.min())), max(maxs[r], float(sel.max()))
            for r, (_, _, below, _) in picks.items():
                if r in collected:
                    vals = np.sort(np.concatenate(collected[r]))
                    result[r] = float(vals[r - below])
                    del state[r]
                else:
                    state[r] = (mins[r], maxs[r], below)  # equal min and max answer at the next round
        return result


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's own interpolation (``numpy.lib._function_base_impl._lerp``), so results match bit for bit."""
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


def _ranks(q: float, n: int) -> tuple[int, int]:
    pos = q / 100 * (n - 1)
    return int(np.floor(pos)), int(np.ceil(pos))
