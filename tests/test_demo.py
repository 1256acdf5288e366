"""`flywheel demo --check` is part of the suite: every step of the tour must be observed."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_demo_tour_passes_every_step(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    steps = [line for line in result.stdout.splitlines() if line[:1] in ("✓", "✗")]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert len(steps) >= 12, steps
    assert all(line.startswith("✓") for line in steps), steps
    names = {line[2:].split(":")[0] for line in steps}
    assert {"ugc share", "ugc approve", "ugc feature", "ugc proof.json"} <= names, steps
