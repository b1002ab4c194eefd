"""How a grey value becomes a phase: the one definition that statistics, metrics, design and figures read.

Phase ``h`` of ``K`` is the grey level ``h / (K - 1)``: for two phases, 0 is
black and 1 is white.  A grey pixel belongs to the nearest level, so two-phase
images split at ``PHASE_THRESHOLD``.  The paper's evaluation protocol is
stricter about "black": a reconstruction's pixel counts as line only below
``PAPER_BLACK_LEVEL`` (shared/paper.md §4).  No TensorFlow here.
"""

from __future__ import annotations

import numpy as np

#: Two-phase images: black (phase 0) below this grey level, white (phase 1) at and above it.
PHASE_THRESHOLD = 0.5
#: The paper's protocol: "black" in a reconstruction is a value below 0.05.
PAPER_BLACK_LEVEL = 0.05


def black_mask(images: np.ndarray, level: float = PHASE_THRESHOLD) -> np.ndarray:
    """Boolean ``(n, *spatial)``: the pixels of ``(n, *spatial, 1)`` grey images below ``level``.

    >>> black_mask(np.array([[[0.0], [0.049], [0.3], [0.5]]])).astype(int).tolist()
    [[1, 1, 1, 0]]
    >>> black_mask(np.array([[[0.0], [0.049], [0.3], [0.5]]]), PAPER_BLACK_LEVEL).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    return np.asarray(images)[..., 0] < level


def phase_name(phase: int, n_phases: int) -> str:
    """``"phase 0 (black)"``, ``"phase 1 (white)"``; with more phases the grey level, e.g. ``"phase 1 (grey 0.5)"``.

    >>> [phase_name(h, 3) for h in range(3)]
    ['phase 0 (black)', 'phase 1 (grey 0.5)', 'phase 2 (white)']
    """
    if phase == 0:
        return "phase 0 (black)"
    if phase == n_phases - 1:
        return f"phase {phase} (white)"
    return f"phase {phase} (grey {phase / (n_phases - 1):.3g})"
