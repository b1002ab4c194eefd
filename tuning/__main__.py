"""``python -m tuning ...``: the same as ``ssvae tune ...``."""

import sys

from ssvae_tf.cli import main

sys.exit(main(["tune", *sys.argv[1:]]))
