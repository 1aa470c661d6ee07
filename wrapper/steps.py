"""The step report: one concise line per step of a run on stderr, with its duration."""

from __future__ import annotations

import sys
import time


class Steps:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # at call time: cli.main masks it (masking.py)
        self.started = time.perf_counter()
        self.last = self.started

    def done(self, step: str, detail: str = "") -> None:
        now = time.perf_counter()
        ms = (now - self.last) * 1000
        self.last = now
        print(f"harbor-setupwrapper: {step:<9} {ms:7.1f} ms  {detail}".rstrip(), file=self.stream)

    def warn(self, message: str) -> None:
        print(f"harbor-setupwrapper: warning: {message}", file=self.stream)
