"""``python -m ssvae_tf ...``: the same as ``ssvae ...``."""

import sys

from ssvae_tf.commands.cli import main

sys.exit(main())
