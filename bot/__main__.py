"""`python -m bot` is the `flywheel` command."""

from bot.cli import main

raise SystemExit(main())
