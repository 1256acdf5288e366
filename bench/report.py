"""The result of one workload, the table, and the runner."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Result:
    """One measured figure, with the baseline measured beside it."""

    workload: str
    metric: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None

    @property
    def ratio(self) -> float | None:
        """Return value / baseline_value, or None without a baseline."""
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        """Return the row as DESIGN.md's bench contract has it."""
        return {**asdict(self), "ratio": self.ratio}


Workload = Callable[[Path, bool], Coroutine[Any, Any, list[Result]]]


class Stopwatch:
    """Time a block with the performance counter."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def run_all(quick: bool, only: str | None = None) -> list[Result]:
    """Run every workload (or the one named) in a scratch directory; return the figures."""
    from bench.workloads import WORKLOADS

    chosen = {name: w for name, w in WORKLOADS.items() if only in (None, name)}
    if not chosen:
        raise ValueError(f"no workload called {only!r}; there are: {', '.join(WORKLOADS)}")
    results: list[Result] = []
    for name, workload in chosen.items():
        with tempfile.TemporaryDirectory(prefix=f"flywheel-bench-{name}-") as scratch:
            results.extend(asyncio.run(workload(Path(scratch), quick)))
    return results


def render_table(results: list[Result]) -> str:
    """Return the figures as an aligned text table."""
    rows = [("workload", "metric", "value", "baseline", "ratio")]
    for r in results:
        baseline = f"{r.baseline} {r.baseline_value:,.1f}" if r.baseline_value else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        rows.append((r.workload, r.metric, f"{r.value:,.1f} {r.unit}", baseline, ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )
