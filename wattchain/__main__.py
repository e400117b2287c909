"""``python -m wattchain``: the same command line as ``wattchain`` (testnet nodes start this
way, so they need no console script on PATH)."""

import sys

from wattchain.cli import main

sys.exit(main())
