"""Nearest neighbours by squared Euclidean distance, with batched distance matrices."""

from __future__ import annotations

import numpy as np

from ssvae_tf._progress import progress_range

_MATRIX_ELEMENTS = 1 << 24


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the reference at the smallest mean squared difference.

    Distances come from ``|q|^2 + |r|^2 - 2 q.r`` in float64, one matrix of
    (query block x all references) at a time, so memory stays bounded.

    Args:
        queries: ``(n, ...)``; each item is flattened.
        references: ``(m, ...)`` with the same item shape, m >= 1.
        progress: show a progress bar over the query blocks (when there are 200 or more).

    Returns:
        ``(indices, mse)``: int64 ``(n,)`` index into ``references`` and
        float64 ``(n,)`` mean squared difference to it (the smallest index wins ties).
    """
    q = np.asarray(queries, np.float64).reshape(len(queries), -1)
    r = np.asarray(references, np.float64).reshape(len(references), -1)
    if len(r) == 0 or q.shape[1] != r.shape[1]:
        raise ValueError(f"need >= 1 reference of the queries' size {q.shape[1:]}, got {r.shape}")
    r_norms = np.einsum("ij,ij->i", r, r)
    block = max(1, _MATRIX_ELEMENTS // len(r))
    indices = np.empty(len(q), dtype=np.int64)
    distances = np.empty(len(q), dtype=np.float64)
    starts = range(0, len(q), block)
    for b in progress_range(len(starts), progress):
        part = q[starts[b]:starts[b] + block]
        squared = np.einsum("ij,ij->i", part, part)[:, None] + r_norms[None, :] - 2.0 * part @ r.T
        best = np.argmin(squared, axis=1)
        indices[starts[b]:starts[b] + block] = best
        distances[starts[b]:starts[b] + block] = np.maximum(squared[np.arange(len(part)), best], 0.0)
    return indices, distances / q.shape[1]
