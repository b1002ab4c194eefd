"""``ssvae evaluate``: the paper's evaluation of a run (and a baseline run) into a report directory.

Light at import time (no TensorFlow): ``ssvae_tf.cli`` imports it to build its parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``ssvae evaluate`` to ``parser``."""
    parser.add_argument("--model", required=True, help="run directory of the model (written by `ssvae train`)")
    parser.add_argument("--baseline", default=None,
                        help="run directory of a second model on the same data, usually `ssvae train --baseline`")
    parser.add_argument("--out", required=True,
                        help="report directory: report.md, metrics.csv and PNG figures")
    parser.add_argument("--n-images", type=int, default=None,
                        help="validation images to evaluate, the first ones (default 1000, as in the paper)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_evaluate(args: argparse.Namespace) -> None:
    """Evaluate ``args.model`` (and ``args.baseline``), write ``args.out``, print the table.

    Raises:
        ValueError: one line naming the bad value (a run without a model,
            runs on different data, images that do not fit the model, ...).
    """
    for option, path in (("--model", args.model), ("--baseline", args.baseline)):
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"{option} {path} is not a directory; expected a run directory written by "
                             "`ssvae train --out DIR`")
    from ssvae_tf.evaluation import compare_runs  # checks n_images before loading anything

    options = {} if args.n_images is None else {"n_images": args.n_images}
    comparison = compare_runs(args.model, args.baseline, args.out, progress=not args.quiet, **options)
    print(comparison.table)
    if comparison.ratio is not None:
        print(f"\nSS-VAE / baseline statistics error: {comparison.ratio:.2f}x "
              "(paper: 0.50x on 1-4 lines, 0.27x on 3-7 lines)")
    print(f"\nreport, metrics.csv and figures in {Path(args.out).resolve()}")
