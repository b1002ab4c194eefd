"""``ssvae evaluate``: the paper's evaluation protocol on one run, or a run and its baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssvae_tf.commands.base import Command, add_pixel_size_option


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    from ssvae_tf.paper import PAPER_N_EVALUATED

    parser.add_argument("--model", required=True, help="run directory of the model (written by `ssvae train`)")
    parser.add_argument("--baseline", default=None,
                        help="run directory of a second model on the same data, usually `ssvae train --baseline` "
                             "(default: none)")
    parser.add_argument("--out", required=True, help="report directory: report.md, metrics.csv and PNG figures")
    parser.add_argument("--n-images", type=int, default=PAPER_N_EVALUATED,
                        help="validation images to evaluate, the first ones (the paper: 1000)")
    parser.add_argument("--refine-steps", type=int, default=0,
                        help="refine each image's code by this many Adam steps on its model's own loss before "
                             "decoding (semi-amortised inference; default 0: decode z_mean, the paper's protocol)")
    parser.add_argument("--volumes", default=None,
                        help="a .npy file of real volumes, one (D, H, W) or (n, D, H, W), read as the run read its "
                             "data: compare --n-images volumes drawn from the model's prior (a model from slices "
                             "or a 3-D model) with as many random crops of them (default: none)")
    parser.add_argument("--volumes-seed", type=int, default=0,
                        help="seed of the real crops and the prior samples of --volumes (default 0)")
    add_pixel_size_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_evaluate(args: argparse.Namespace) -> None:
    for option, path in (("--model", args.model), ("--baseline", args.baseline)):
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"{option} {path} is not a directory; expected a run directory written by "
                             "`ssvae train --out DIR`")
    if args.volumes is not None and not Path(args.volumes).is_file():
        raise ValueError(f"--volumes {args.volumes} is not a file; expected a .npy file of real volumes")
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.paper import paper_ratio_note
    from ssvae_tf.run_dir import RunDir

    comparison = compare_runs(args.model, args.baseline, args.out, n_images=args.n_images,
                              progress=not args.quiet, refine_steps=args.refine_steps, pixel_size=args.pixel_size,
                              volumes=args.volumes, volumes_seed=args.volumes_seed)
    print(comparison.table)
    if comparison.ratio is not None:
        note = paper_ratio_note(RunDir(args.model).settings().data)
        print(f"\nSS-VAE / baseline statistics error: {comparison.ratio:.2f}x" + (f" ({note})" if note else ""))
    if comparison.binarised:
        print(f"\nbinarised reconstructions (threshold 0.5; not the paper's protocol; see report.md):\n"
              f"{comparison.binarised}")
    if comparison.real_volumes is not None:
        real = comparison.real_volumes
        print(f"\nprior samples vs real volumes: 3-D statistics error {real['statistics_error']:.3g} "
              f"(real vs real {real['real_statistics_error']:.3g}, ratio {real['statistics_ratio']:.2f}); "
              f"{real['seconds_per_volume']:.3g} s per volume; see report.md and real_volumes.json")
    print(f"\nreport, metrics.csv and figures in {Path(args.out).resolve()}")


COMMANDS = (
    Command("evaluate", "evaluate runs on the paper's protocol: report.md, metrics.csv, figures",
            configure_evaluate, run_evaluate),
)
