"""Shared helpers for the benchmark scripts: timing, copy bandwidth, threads, markdown."""

from __future__ import annotations

import contextlib
import gc
import itertools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
INTRO = (
    "# Benchmarks\n\n"
    "Side-by-side timings of this library against its peers, measured in one run\n"
    "on one machine by the scripts in `benchmarks/` (each section names its script).\n"
    "Ratios are the peer's time divided by ours (> 1: we are faster).\n"
)


def best_time(func: Callable[[], Any], repeat: int = 7, warmup: int = 1) -> float:
    """Minimum wall time of ``func()`` in seconds over ``repeat`` runs, after ``warmup`` runs.

    The minimum is the least noisy estimate on a shared machine.
    """
    for _ in range(warmup):
        func()
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            func()
            best = min(best, time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def copy_bandwidth(nbytes: int = 2**28, threads: int = 1, repeat: int = 7) -> float:
    """Machine copy bandwidth in GB/s (bytes read + written) of ``np.copyto``.

    With ``threads > 1`` the array is split in contiguous chunks copied
    concurrently (``np.copyto`` releases the GIL).
    """
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)
    if threads == 1:
        t = best_time(lambda: np.copyto(dst, src), repeat)
    else:
        bounds = np.linspace(0, src.size, threads + 1).astype(int)
        parts = [(dst[a:b], src[a:b]) for a, b in itertools.pairwise(bounds)]
        with ThreadPoolExecutor(threads) as pool:
            t = best_time(lambda: list(pool.map(lambda p: np.copyto(*p), parts)), repeat)
    return 2 * nbytes / t / 1e9


@contextlib.contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP pools (threadpoolctl, if installed) to ``n`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in the dev extra
        yield
        return
    with threadpool_limits(limits=n):
        yield


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(":--" if i < 2 else "--:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def update_section(heading: str, body: str, path: Path = DOCS) -> None:
    """Replace (or append) the section ``## heading`` of ``path`` with ``body``.

    Other sections are left untouched; the file gets a short intro if new.
    """
    text = path.read_text() if path.exists() else INTRO
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\s*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
