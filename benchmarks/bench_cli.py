"""Start-up time of the ``ssvae`` command line: help without TensorFlow vs an import of it.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_cli.py            # ~1 min on 2 idle cores
    python benchmarks/bench_cli.py --quick    # smoke run

What is measured: wall time of a fresh Python process (``sys.executable``),
median of interleaved rounds, for

  * ``ssvae --help`` and ``ssvae train --help``: the whole parser, every
    subcommand's options included, built without TensorFlow, Keras or gRPC;
  * ``import ssvae_tf.training``: what building the parser cost before the
    command layer was made light (the old ``ssvae train`` options were read
    from ``ssvae_tf.training``, which loads TensorFlow and Keras);
  * ``import ssvae_tf``: the package itself (it registers its Keras classes
    lazily, when Keras is imported);
  * ``import tensorflow``: the yardstick; ``ssvae --help`` should take under
    0.35x its time (a speed-up of at least 1 / 0.35 = 2.86x).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_medians, parse_args, print_machine_info, print_ratio, print_table  # noqa: E402

HELP, TRAIN_HELP = "ssvae --help", "ssvae train --help"
OLD_PARSER, PACKAGE = "import ssvae_tf.training (the old --help)", "import ssvae_tf"
TENSORFLOW = "import tensorflow"
#: ``ssvae --help`` takes at most this fraction of the time of ``import tensorflow``.
HELP_TIME_FRACTION = 0.35
COMMANDS = {
    HELP: ["-m", "ssvae_tf", "--help"],
    TRAIN_HELP: ["-m", "ssvae_tf", "train", "--help"],
    OLD_PARSER: ["-c", "import ssvae_tf.training"],
    PACKAGE: ["-c", "import ssvae_tf"],
    TENSORFLOW: ["-c", "import tensorflow"],
}


def runs_per_second(arguments: list[str]) -> float:
    """Start a fresh interpreter with ``arguments``, wait for it; return 1 / its wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, capture_output=True)
    return 1.0 / (time.perf_counter() - start)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    print_machine_info("ssvae start-up: fresh processes, median wall time")
    contenders = {name: (lambda arguments=arguments: runs_per_second(arguments))
                  for name, arguments in COMMANDS.items()}
    for measure in contenders.values():  # warm the file-system cache
        measure()
    rates = interleaved_medians(contenders, rounds=2 if args.quick else 7)
    print_table(["command", "median s"], [[name, 1.0 / rate] for name, rate in rates.items()])
    print_ratio("ssvae --help speed-up over the old parser", rates[HELP], rates[OLD_PARSER])
    print_ratio("ssvae train --help speed-up over the old parser", rates[TRAIN_HELP], rates[OLD_PARSER])
    for name in (HELP, TRAIN_HELP):
        print_ratio(f"{name} speed-up over import tensorflow", rates[name], rates[TENSORFLOW],
                    target=1 / HELP_TIME_FRACTION)


if __name__ == "__main__":
    main()
