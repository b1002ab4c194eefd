"""What the source paper reports (Hashemi, Guerzhoy & Paulson, ICLR 2024 Tiny Papers,
arXiv 2402.11103; shared/paper.md section 4), written once.

Every comparison with the paper (the evaluation tables, ``ssvae evaluate``,
the demo, ``docs/reproduction.md``) reads these numbers; ratios are computed
from them, never written out.  Light at import.
"""

from __future__ import annotations

#: Side of the paper's line images, in px.
PAPER_SIZE = 224

#: The paper's numbers per data set and model; ``None`` = not reported.
PAPER_NUMBERS: dict[str, dict[str, dict[str, float | None]]] = {
    "lines": {
        "baseline": {"stats_mse_mean": 5.87e-5, "stats_mse_median": 2.74e-5, "pixel_mse_mean": 2.98e-2,
                     "pixel_mse_median": 2.44e-2, "orientation_pct": None, "line_count_pct": None,
                     "volume_fraction_diff_mean": None},
        "ss-vae": {"stats_mse_mean": 2.91e-5, "stats_mse_median": 1.74e-5, "pixel_mse_mean": 1.08e-1,
                   "pixel_mse_median": 1.08e-1, "orientation_pct": 98.0, "line_count_pct": 63.0,
                   "volume_fraction_diff_mean": 17.0},
    },
    "lines-hard": {
        "baseline": {"stats_mse_mean": 2.37e-4, "pixel_mse_mean": 6.03e-2},
        "ss-vae": {"stats_mse_mean": 6.31e-5, "pixel_mse_mean": 1.82e-1},
    },
}

#: The paper evaluates the first this many validation images.
PAPER_N_EVALUATED = 1000

#: What each line set is, in the paper's (or its authors' repository's) words.
PAPER_SETS = {"lines": "1-4 lines", "lines-hard": "3-7 lines"}


def paper_stats_ratio(data: str) -> float | None:
    """The paper's SS-VAE / baseline mean statistics error on ``data`` (``None`` if not reported).

    >>> round(paper_stats_ratio("lines"), 2)
    0.5
    """
    numbers = PAPER_NUMBERS.get(data)
    if numbers is None:
        return None
    return numbers["ss-vae"]["stats_mse_mean"] / numbers["baseline"]["stats_mse_mean"]


def paper_ratio_note(data: str | None = None) -> str:
    """``"paper: 0.50x"`` for one line set, or the ratios of every set when ``data`` is ``None``
    (``"paper: 0.50x on 1-4 lines, 0.27x on 3-7 lines"``); empty for other data."""
    sets = list(PAPER_SETS) if data is None else [data] if data in PAPER_SETS else []
    if not sets:
        return ""
    ratios = [f"{paper_stats_ratio(name):.2f}x" + (f" on {PAPER_SETS[name]}" if data is None else "")
              for name in sets]
    return "paper: " + ", ".join(ratios)
