"""`python -m calibrate --help`."""

from calibrate.cli import main

raise SystemExit(main())
