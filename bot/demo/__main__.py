"""Run the demo as ``python -m bot.demo [--check]``."""

from __future__ import annotations

import sys

from bot.demo import main

sys.exit(main("--check" in sys.argv))
