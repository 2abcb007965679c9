"""`python -m preflight --help`."""

from preflight.cli import main

raise SystemExit(main())
