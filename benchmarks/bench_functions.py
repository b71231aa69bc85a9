"""Time softmax, log_softmax and cross_entropy against SciPy, PyTorch and naive NumPy.

Usage::

    python benchmarks/bench_functions.py [--quick] [--repeat N] [--write]

Prints a markdown table (milliseconds, effective GB/s = bytes read + written,
and each peer's time divided by ours) next to the machine's copy bandwidth;
``--write`` puts it in the "Functions" section of ``docs/benchmarks.md``.
PyTorch runs on the CPU with 2 threads; numba (for our fused kernels) with its
default thread count.  Compilation is excluded by a warm-up call.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.special

sys.path.insert(0, str(Path(__file__).resolve().parent))
import softmax
from _common import best_time, copy_bandwidth, limited_threads, markdown_table, update_section

SHAPES = [(1_000_000, 10), (100_000, 1_000), (1_000, 100_000)]
QUICK_SHAPES = [(100_000, 10), (10_000, 100), (100, 10_000)]
DTYPES = [np.float32, np.float64]
TORCH_THREADS = 2


def naive_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def naive_log_softmax(x: np.ndarray) -> np.ndarray:
    d = x - x.max(axis=-1, keepdims=True)
    return d - np.log(np.exp(d).sum(axis=-1, keepdims=True))


def gathered_nll(log_p: np.ndarray, labels: np.ndarray) -> Any:
    return -np.take_along_axis(log_p, labels[:, None], axis=-1).mean()


def implementations(torch: Any) -> dict[str, dict[str, Any]]:
    """name -> peer -> callable(x, labels)."""
    ours_ce = getattr(softmax, "cross_entropy", None)
    impls: dict[str, dict[str, Any]] = {
        "softmax": {
            "ours": lambda x, y: softmax.softmax(x),
            "scipy": lambda x, y: scipy.special.softmax(x, axis=-1),
            "numpy": lambda x, y: naive_softmax(x),
        },
        "log_softmax": {
            "ours": lambda x, y: softmax.log_softmax(x),
            "scipy": lambda x, y: scipy.special.log_softmax(x, axis=-1),
            "numpy": lambda x, y: naive_log_softmax(x),
        },
        "cross_entropy": {
            "scipy": lambda x, y: gathered_nll(scipy.special.log_softmax(x, axis=-1), y),
            "numpy": lambda x, y: gathered_nll(naive_log_softmax(x), y),
        },
    }
    if ours_ce is not None:
        impls["cross_entropy"]["ours"] = lambda x, y: ours_ce(x, y)
    if torch is not None:
        F = torch.nn.functional
        impls["softmax"]["torch"] = lambda x, y: F.softmax(x, dim=-1)
        impls["log_softmax"]["torch"] = lambda x, y: F.log_softmax(x, dim=-1)
        impls["cross_entropy"]["torch"] = lambda x, y: F.cross_entropy(x, y)
    return impls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke test)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; the minimum is kept")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)

    try:
        import torch

        torch.set_num_threads(TORCH_THREADS)
    except ImportError:
        torch = None
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rng = np.random.default_rng(0)
    peers = ["scipy", "torch", "numpy"]
    rows = []
    with limited_threads(2):
        copy1 = copy_bandwidth(threads=1, repeat=args.repeat)
        copy2 = copy_bandwidth(threads=2, repeat=args.repeat)
        for shape in shapes:
            for dtype in DTYPES:
                x = (rng.standard_normal(shape) * 3).astype(dtype)
                labels = rng.integers(0, shape[1], size=shape[0])
                xt = torch.from_numpy(x) if torch is not None else None
                yt = torch.from_numpy(labels) if torch is not None else None
                for name, impls in implementations(torch).items():
                    nbytes = 2 * x.nbytes if name != "cross_entropy" else x.nbytes + labels.nbytes
                    times = {}
                    for peer, func in impls.items():
                        a, b = (xt, yt) if peer == "torch" else (x, labels)
                        t0 = time.perf_counter()
                        func(a, b)  # warm-up (and numba compilation / cache load)
                        first = time.perf_counter() - t0
                        times[peer] = best_time(lambda f=func, a=a, b=b: f(a, b), args.repeat, 0)
                        if peer == "ours" and first > 1.0:
                            print(f"(first call of ours {name}: {first:.1f} s)", file=sys.stderr)
                    ours = times.get("ours")
                    row = [f"{name}", f"{shape[0]:_} x {shape[1]:_}", np.dtype(dtype).name]
                    row.append(f"{ours * 1e3:.1f}" if ours else "–")
                    row.append(f"{nbytes / ours / 1e9:.1f}" if ours else "–")
                    for peer in peers:
                        t = times.get(peer)
                        row.append(f"{t * 1e3:.1f}" if t else "–")
                    for peer in peers:
                        t = times.get(peer)
                        row.append(f"{t / ours:.1f}×" if t and ours else "–")
                    rows.append(row)
                    print(" | ".join(row), file=sys.stderr, flush=True)
                del x, xt
    header = ["function", "shape", "dtype", "ours ms", "ours GB/s"]
    header += [f"{p} ms" for p in peers] + [f"÷ {p}" for p in peers]
    kernel = "numba fused kernel" if softmax._kernels.available() else "NumPy reference"
    try:
        import numba

        nb = f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)"
    except ImportError:
        nb = "numba not installed"
    env = (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, "
        f"PyTorch {torch.__version__ if torch else 'n/a'} ({TORCH_THREADS} threads), {nb}. "
        f"Ours ran the {kernel}. Load average after the run: "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (above 2 = shared CPUs).\n\n"
        f"Copy bandwidth (`np.copyto`, 256 MiB, read + write): "
        f"**{copy1:.1f} GB/s** with 1 thread, **{copy2:.1f} GB/s** with 2.\n\n"
        f"Times are the minimum of {args.repeat} runs after a warm-up; GB/s counts the "
        f"input read and the output written (cross_entropy: logits + labels). "
        f"scipy has no cross-entropy: `-log_softmax` gathered at the labels, averaged; "
        f"numpy is the naive `exp(x - max) / sum`."
    )
    body = (
        "Script: `benchmarks/bench_functions.py`" + (" (--quick)" if args.quick else "") + ".\n\n"
    )
    body += env + "\n\n" + markdown_table(header, rows) + "\n"
    print(body)
    if args.write:
        update_section("Functions", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
