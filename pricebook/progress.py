"""A small progress line on stderr for long jobs (imports, demo scale, crawls)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last = 0.0
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self._last < 0.5 and done != self.total:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-9)
        if self.total:
            width = 30
            filled = int(width * done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label}: {done:,} ({rate:,.0f}/s)"
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(text + end)
        self.stream.flush()

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        if self.stream.isatty():
            self.stream.write("\n")
        return elapsed
