"""MetricLog: the series a run writes as it trains (loss, accuracy, per-group LR and drift), safe to read from other threads."""

from __future__ import annotations

import threading


class MetricLog:
    """Named series of (step, value) points. The trainer thread appends; readers take snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        self.version = 0  # bumps on every append, so a reader can skip redraws

    def add(self, name: str, step: int, value: float) -> None:
        with self._lock:
            steps, values = self._series.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))
            self.version += 1

    def add_many(self, step: int, values: dict[str, float]) -> None:
        with self._lock:
            for name, value in values.items():
                steps, vals = self._series.setdefault(name, ([], []))
                steps.append(step)
                vals.append(float(value))
            self.version += 1

    def snapshot(self) -> dict[str, tuple[list[int], list[float]]]:
        """A copy: {name: (steps, values)} that the trainer will not change under the reader."""
        with self._lock:
            return {k: (list(s), list(v)) for k, (s, v) in self._series.items()}

    def last(self, name: str, default: float | None = None) -> float | None:
        with self._lock:
            s = self._series.get(name)
            return s[1][-1] if s and s[1] else default

    def names(self) -> list[str]:
        with self._lock:
            return list(self._series)

    def since(self, sent: dict[str, int]) -> dict[str, tuple[list[int], list[float]]]:
        """The points added after the first `sent[name]` of each series; updates `sent` (a stream's cursor)."""
        out = {}
        with self._lock:
            for name, (steps, values) in self._series.items():
                k = sent.get(name, 0)
                if len(steps) > k:
                    out[name] = (steps[k:], values[k:])
                    sent[name] = len(steps)
        return out

    def extend(self, points: dict[str, tuple[list[int], list[float]]]) -> None:
        """Append points streamed from another process (the other end of `since`)."""
        if not points:
            return
        with self._lock:
            for name, (steps, values) in points.items():
                s, v = self._series.setdefault(name, ([], []))
                s.extend(steps)
                v.extend(float(x) for x in values)
            self.version += 1
