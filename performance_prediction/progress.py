"""Progress on stderr for long work: a tqdm bar on a terminal, plain dated lines otherwise.

tqdm hides itself when stderr is not a terminal (``disable=None``), so a report run from a script or CI used to
stay silent for minutes. Here a non-terminal gets one line when a stage starts, then at most one line every
``min_interval`` seconds (done/total, elapsed, a rough time left), and one when it ends.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def stage(message: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """One line naming the stage that starts now (stderr)."""
    if enabled:
        print(f"[njsl predict] {message}", file=stream or sys.stderr, flush=True)


class Progress:
    """``update()`` after each unit of work; ``close()`` at the end. Disabled: does nothing."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None,
                 min_interval: float = 15.0, unit: str = "run"):
        self.total, self.desc, self.enabled, self.unit = total, desc, enabled, unit
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self.done = 0
        self.start = self.last = time.perf_counter()
        self._bar = None
        if not enabled:
            return
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream)
        else:
            self._line(f"started, {total} {unit}s")

    def _line(self, text: str) -> None:
        print(f"[njsl predict] {self.desc}: {text}", file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self.last >= self.min_interval and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            left = elapsed / self.done * (self.total - self.done)
            self._line(f"{self.done}/{self.total} {self.unit}s, {elapsed:.0f} s elapsed, ~{left:.0f} s left")

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            return
        self._line(f"done, {self.done}/{self.total} {self.unit}s in {time.perf_counter() - self.start:.0f} s")
        self.enabled = False
