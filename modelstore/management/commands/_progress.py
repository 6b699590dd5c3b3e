"""A terminal progress bar for the long commands, fed by a service's `progress(done, total)` callback."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from django.core.management.base import OutputWrapper
from tqdm import tqdm


@contextmanager
def progress_bar(
    stderr: OutputWrapper, *, desc: str, unit: str = "step", enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """A callback that draws a tqdm bar (done/total, rate, time left) on `stderr`, or None: quiet when
    `stderr` is not a terminal (logs, pipes, tests) or the caller asked for machine-readable output."""
    if not (enabled and stderr.isatty()):
        yield None
        return
    # tqdm redraws its line with "\r": write through Django's wrapper without its newline and error colour.
    # The encoding lets tqdm draw its Unicode blocks where the terminal takes them.
    raw = SimpleNamespace(
        write=lambda text: stderr.write(text, style_func=str, ending=""), flush=stderr.flush,
        encoding=getattr(stderr, "encoding", None),
    )
    with tqdm(file=raw, desc=desc, unit=unit) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield advance
