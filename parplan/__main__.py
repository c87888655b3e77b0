"""`python -m parplan`: the same command line as the `parplan` script."""

from __future__ import annotations

import sys

from parplan.cli import main

sys.exit(main())
