"""`python -m parplan.train ...` (what launch.sh runs under torchrun)."""

from __future__ import annotations

import sys

from parplan.train.args import main

sys.exit(main())
