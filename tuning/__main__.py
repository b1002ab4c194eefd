"""``python -m tuning``: the same as ``ssvae tune``."""

import sys

from tuning.command import main

sys.exit(main())
