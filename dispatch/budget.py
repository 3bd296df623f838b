"""How long the solver may go on improving a plan.

A wall-clock deadline, and for tests a cap on the number of improvement
steps: since every step is deterministic, a test can stop the search after
exactly ``max_steps`` steps and compare runs of different lengths without
depending on how busy the machine is.

A step is not started when the previous step of the same kind, taking as
long again, would end after the deadline: the time limit is kept rather than
overrun by one step, and since this only ends the search earlier, the path
stays the same.
"""

from __future__ import annotations

import time


class Budget:
    def __init__(self, deadline: float, max_steps: int | None = None):
        self.deadline = deadline
        self.max_steps = max_steps
        self.steps = 0
        self._started: tuple[str, float] | None = None  # kind and start of the running step
        self._took: dict[str, float] = {}  # seconds the last step of each kind took

    def more(self, kind: str = "step") -> bool:
        """Whether one more step of ``kind`` may start; counts it if so."""
        now = time.perf_counter()
        if self._started is not None:
            self._took[self._started[0]] = now - self._started[1]
        if now + self._took.get(kind, 0.0) >= self.deadline:
            return False
        if self.max_steps is not None and self.steps >= self.max_steps:
            return False
        self.steps += 1
        self._started = (kind, now)
        return True
