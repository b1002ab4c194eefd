"""Optional progress bar for loops over many images."""

from __future__ import annotations

from collections.abc import Iterator

import keras

#: Loops over fewer items than this never show a progress bar.
MIN_ITEMS_FOR_PROGRESS = 200


def progress_range(n: int, progress: bool) -> Iterator[int]:
    """Yield ``0, 1, ..., n - 1``, showing a ``keras.utils.Progbar`` while doing so.

    The bar is shown only when ``progress`` is true and ``n`` is at least
    ``MIN_ITEMS_FOR_PROGRESS``; it advances after the caller has finished with
    each yielded index.
    """
    bar = keras.utils.Progbar(n) if progress and n >= MIN_ITEMS_FOR_PROGRESS else None
    for i in range(n):
        yield i
        if bar is not None:
            bar.update(i + 1)
