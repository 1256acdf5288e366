"""Benchmarks: workloads timed against a baseline measured in the same run.

``flywheel bench`` runs every workload and prints one row each; ``--json`` prints the
array DESIGN.md specifies. A ratio is our rate divided by the baseline's rate on the same
rows and the same machine, so it means the same on a laptop and on CI: how much of the
raw speed of the layer underneath the feature keeps.
"""

from __future__ import annotations

from bench.report import Result, render_table, run_all

__all__ = ["Result", "render_table", "run_all"]
