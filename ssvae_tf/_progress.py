"""Progress bars for long loops, shown only on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

#: Loops over fewer items than this never show a progress bar.
MIN_ITEMS_FOR_PROGRESS = 200


def on_terminal(requested: bool) -> bool:
    """Whether to show progress: asked for, and standard output is a terminal (a redirected log gets
    no bars and no cursor escapes)."""
    return bool(requested) and sys.stdout.isatty()


def progress_range(n: int, progress: bool) -> Iterator[int]:
    """Yield ``0, 1, ..., n - 1``, showing a ``keras.utils.Progbar`` while doing so.

    The bar is shown only when ``progress`` is true, standard output is a
    terminal and ``n`` is at least ``MIN_ITEMS_FOR_PROGRESS``; it advances
    after the caller has finished with each yielded index.
    """
    bar = None
    if on_terminal(progress) and n >= MIN_ITEMS_FOR_PROGRESS:
        import keras

        bar = keras.utils.Progbar(n)
    for i in range(n):
        yield i
        if bar is not None:
            bar.update(i + 1)


def ticker(total: int, progress: bool) -> Callable[[], None]:
    """A function to call after each of ``total`` iterations: it advances a progress bar, shown as
    :func:`progress_range` decides (on a terminal, long loops)."""
    ticks = progress_range(total, progress)
    next(ticks, None)
    return lambda: next(ticks, None)
