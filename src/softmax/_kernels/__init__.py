"""Fused CPU kernels for the row-wise hot paths (optional; the NumPy code in
``softmax.special`` is the reference and the fallback).

``applies(x, axis)`` says whether a fused kernel handles this call; the
kernels must return what the reference returns (tests check it: float64
within 2 ulp, special values exactly).  The kernels live in ``_numba.py`` and
need numba (the ``fast`` extra); numba is imported on the first call that
could use it, never at ``import softmax``.  If numba is missing or the kernels
fail to compile, ``applies`` answers False from then on and the reference runs.

``log_softmax_picked`` is log_softmax at one entry per row (the label), bit
for bit the entry of the ``log_softmax`` kernel's output, without writing the
rest: :func:`softmax.cross_entropy`'s fused path for integer labels.

``fused_multinomial`` does the same for the fused data-fit passes of
``_numba_linear.py`` (the reference: :class:`softmax.objective.Multinomial`'s
NumPy code), ``fused_multinomial_csr`` and ``csr_tiles`` for their CSR
twins (``_numba_sparse.py``, and ``_numba_csr_tiles.py`` on column tiles),
``csr_matmat`` for the multithreaded CSR product of ``_numba_sparse.py`` (the
reference: SciPy's), ``coordinate_descent_kernels`` for the proximal-Newton
model's coordinate descent (``_numba_cd.py``, used by
:mod:`softmax.objective._coordinate_descent`); ``threads_for`` keeps small fits
on one thread and ``blas_for_kernels`` keeps BLAS off the cores the kernels use.
"""

from __future__ import annotations

import contextlib
import importlib
import operator
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "MIN_SIZE",
    "applies",
    "available",
    "blas_for_kernels",
    "blas_unlimited",
    "coordinate_descent_kernels",
    "csr_matmat",
    "csr_parts",
    "csr_row_parts",
    "csr_tiles",
    "fused_multinomial",
    "fused_multinomial_csr",
    "kernels_for_blas",
    "log_softmax",
    "log_softmax_picked",
    "set_kernel_threads",
    "softmax",
    "threads_for",
]

#: Smallest ``x.size`` handed to the kernel: below it the reference's few
#: NumPy calls cost about as much as starting numba's threads (measured with
#: ``benchmarks/bench_functions.py``; the kernel is 3x faster at 2**15).  On
#: 10**7 elements one kernel thread is about 7x (float64) to 10x (float32)
#: faster than the reference, rows of 10 or 1000 (the kernel's own work, not
#: thread start-up, so the crossover stays where it was).
MIN_SIZE = 2**13

_DTYPES = (np.float32, np.float64)


class _LazyModule:
    """A kernel module imported — and warmed up, so that compile failures surface
    here — on first use, once; ``get()`` is the module, or None for good when
    numba is missing, too old, or LLVM refuses the code."""

    _lock = threading.Lock()

    def __init__(self, name: str, warm_up: Any = None) -> None:
        self.name, self.warm_up = name, warm_up
        self.state = "unknown"  # -> "ok" | "broken"
        self.module: Any = None

    def get(self) -> Any:
        if self.state == "unknown":
            with self._lock:
                if self.state == "unknown":
                    try:
                        module = importlib.import_module(f"softmax._kernels.{self.name}")
                        if self.warm_up is not None:
                            self.warm_up(module)
                    except Exception:
                        self.state = "broken"
                    else:
                        self.module, self.state = module, "ok"
        return self.module


def _compile_rows(impl: Any) -> None:
    for dtype in _DTYPES:  # compile (or load from numba's disk cache) both dtypes
        x = np.zeros(16, dtype)
        impl.softmax_rows(x, np.empty_like(x), 4)
        impl.log_softmax_rows(x, np.empty_like(x), 4)


def _compile_picked(impl: Any) -> None:
    for dtype in _DTYPES:
        x = np.zeros(16, dtype)
        impl.log_softmax_picked_rows(x, np.zeros(4, np.int64), np.empty(4, dtype), 4)


_rows = _LazyModule("_numba", _compile_rows)
# The same module, its label-picking kernel compiled on the first cross_entropy
# call that can use it (not on every softmax user's first call).
_picked = _LazyModule("_numba", _compile_picked)
_linear = _LazyModule("_numba_linear")
_cd = _LazyModule("_numba_cd")
_sparse = _LazyModule("_numba_sparse")
_tiles = _LazyModule("_numba_csr_tiles")


def available() -> bool:
    """Whether the row kernels (softmax, log_softmax) load and compile here."""
    return _rows.get() is not None


def applies(x: Any, axis: Any) -> bool:
    """True when a fused kernel can handle ``x`` normalised over ``axis``."""
    if type(x) is not np.ndarray or x.dtype.type not in _DTYPES or not x.dtype.isnative:
        return False
    if x.ndim < 1 or x.size < MIN_SIZE or x.shape[-1] == 0:
        return False
    if isinstance(axis, bool):
        return False
    try:
        a = operator.index(axis)
    except TypeError:
        return False
    if a not in (-1, x.ndim - 1) or not (x.flags.c_contiguous and x.flags.aligned):
        return False
    return _rows.get() is not None


def _run(x: np.ndarray, temperature: float, log: bool) -> np.ndarray:
    # The kernels read their input again after writing: never in place.
    out = np.empty_like(x)
    n = x.shape[-1]
    rows = _rows.module.log_softmax_rows if log else _rows.module.softmax_rows
    rows(x.reshape(-1), out.reshape(-1), n, temperature)
    return out


def softmax(x: Any, temperature: float) -> Any:
    """Softmax over the last axis of a C-contiguous float32/float64 array."""
    return _run(x, temperature, log=False)


def log_softmax(x: Any, temperature: float) -> Any:
    """Log-softmax over the last axis of a C-contiguous float32/float64 array."""
    return _run(x, temperature, log=True)


def log_softmax_picked(x: Any, axis: Any, labels: Any) -> Any:
    """``log_softmax(x, axis)`` at ``labels`` along ``axis`` (the last one), or None.

    The same bits as gathering from :func:`log_softmax`'s kernel output
    (``take_along_axis``), but the kernel never writes the other entries:
    one read of ``x``, one vector written.  None when the kernels do not apply
    (see :func:`applies`) or ``labels`` is not a NumPy integer array of ``x``'s
    shape without its last axis; the caller then takes the general path, which
    gives the same result.  ``labels`` must already be checked to lie in
    ``[0, x.shape[-1])``: the kernel does not check them.
    """
    if not applies(x, axis) or type(labels) is not np.ndarray:
        return None
    if labels.dtype.kind not in "iu" or labels.shape != x.shape[:-1]:
        return None
    impl = _picked.get()
    if impl is None:
        return None
    y = np.ascontiguousarray(labels.reshape(-1), dtype=np.int64)
    picked = np.empty(y.shape[0], x.dtype)
    impl.log_softmax_picked_rows(x.reshape(-1), y, picked, x.shape[-1])
    return picked.reshape(labels.shape)


# --------------------------------------------------------------------------- #
# Fused row passes of the dense multinomial data fit (``_numba_linear``)
# --------------------------------------------------------------------------- #
#: Most classes the fused data-fit pass takes: it keeps a row's logits in
#: registers and cache; with many classes the BLAS GEMMs of the reference win
#: (measured on one thread: 500k x 54 x 7 3.4x faster fused, 200k x 200 x 10
#: 1.7x, 100k x 100 x 32 even with BLAS: its gradient 1.4x faster, its
#: Hessian-vector product 1.2x slower).
MAX_FUSED_CLASSES = 16

#: Rows per block of the fused pass (a block of X and its logits stay in L2)
#: and the number of partial sums (fixed, so results do not depend on threads).
FUSED_BLOCK_ROWS = 256
FUSED_PARTS = 64


def fused_multinomial(X: Any, n_classes: int) -> Any:
    """The fused kernels module when it handles the multinomial data fit on ``X``
    (dense, C-contiguous float32/float64, at most :data:`MAX_FUSED_CLASSES`
    classes, at least :data:`MIN_SIZE` elements); None otherwise."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype.type not in _DTYPES:
        return None
    if not (X.flags.c_contiguous and X.flags.aligned and X.dtype.isnative):
        return None
    if n_classes > MAX_FUSED_CLASSES or X.size < MIN_SIZE or X.shape[1] == 0:
        return None
    return _linear.get()


def coordinate_descent_kernels() -> Any:
    """The module of the proximal-Newton model's coordinate descent
    (``_numba_cd``), or None without numba."""
    return _cd.get()


# --------------------------------------------------------------------------- #
# Multithreaded CSR product (``_numba_sparse``)
# --------------------------------------------------------------------------- #
def csr_matmat(X: Any, B: np.ndarray) -> np.ndarray | None:
    """``X @ B`` (``B`` of shape (n_features, K)) in parallel, in ``B``'s dtype,
    skipping the zero rows of ``B``; None where the kernel does not apply (not
    CSR, not float32/float64, or under :data:`MIN_SIZE` multiply-adds)."""
    if getattr(X, "format", None) != "csr" or X.dtype.type not in _DTYPES:
        return None
    if B.ndim != 2 or B.dtype.type not in _DTYPES or X.nnz * B.shape[1] < MIN_SIZE:
        return None
    impl = _sparse.get()
    if impl is None:
        return None
    B = np.ascontiguousarray(B)
    out = np.empty((X.shape[0], B.shape[1]), dtype=B.dtype)
    impl.csr_matmat(X.indptr, X.indices, X.data, B, B.any(axis=1), out)
    return out


#: Bound on the partial gradients of the fused CSR pass, ``n_parts * n_features
#: * K`` float64 values (32 MB), as long as there are at least
#: :data:`CSR_MIN_PARTS` (so that two threads share the rows: then the partials
#: are two gradients' worth, less than an L-BFGS memory holds).  They are zeroed
#: and added at every evaluation: more parts than threads cost time.
CSR_PARTIAL_ELEMENTS = 2**22
CSR_MIN_PARTS, CSR_MAX_PARTS = 2, 16


def csr_parts(n_features: int, n_classes: int) -> int:
    """Partial sums of the fused CSR pass for this shape: a function of the shape
    alone (never of the thread count), so that results do not depend on threads."""
    fit = CSR_PARTIAL_ELEMENTS // max(1, n_features * n_classes)
    return int(min(CSR_MAX_PARTS, max(CSR_MIN_PARTS, fit)))


def fused_multinomial_csr(X: Any) -> Any:
    """The sparse kernels module when its fused data-fit passes handle ``X``
    (CSR, float32/float64, at least :data:`MIN_SIZE` stored values); None otherwise."""
    if getattr(X, "format", None) != "csr" or X.dtype.type not in _DTYPES:
        return None
    if X.nnz < MIN_SIZE or X.shape[1] == 0:
        return None
    return _sparse.get()


#: Coefficients per column tile of CSR data (``tile width * K`` float64 values),
#: where the tile's coefficient and gradient rows stay while every row's values
#: in the tile are visited (``_numba_csr_tiles``).  Each tile is one more pass
#: over the logits (``n x K``), so tiles somewhat larger than a core's L2 cache
#: (512 KB here) win: on W4 (100k x 50k, 20 classes) an evaluation and a
#: Hessian-vector product took 219-272 ms with 256 KB tiles (50 tiles) and 64
#: row ranges, 169-193 ms with 1 MB (18 tiles) and 8 (:data:`CSR_ROW_PARTS_PER_THREAD`).
CSR_TILE_BYTES = 2**20
#: Fewest tiles the stored values are spread over (frequent features in several
#: tiles, so that threads owning tiles share the work evenly).
CSR_MIN_TILES = 16
#: Row ranges per thread of the tiled logits.  Every range brings every tile's
#: coefficients into its core's cache once, so the fewer the better, as long as
#: the threads' shares stay even.  The results do not depend on it.
CSR_ROW_PARTS_PER_THREAD = 4


def csr_row_parts() -> int:
    """Row ranges of the tiled logits: :data:`CSR_ROW_PARTS_PER_THREAD` per numba thread."""
    import numba

    return CSR_ROW_PARTS_PER_THREAD * int(numba.get_num_threads())


def csr_tiles(X: Any, n_classes: int) -> tuple[Any, Any] | None:
    """``(module, tiles)``: ``X`` cut into column tiles for the tiled multinomial
    passes of ``_numba_csr_tiles`` (a copy of its stored values, made once per
    fit, with duplicate entries summed: the tiled squares of
    ``Multinomial.hessian_moments`` need one value per entry), or None where they
    do not apply (see :func:`fused_multinomial_csr`) or the tiles' row pointers
    would take more memory than ``X`` itself."""
    if fused_multinomial_csr(X) is None:
        return None
    impl = _tiles.get()
    if impl is None:
        return None
    n_features = X.shape[1]
    max_width = max(1, CSR_TILE_BYTES // (8 * n_classes))
    max_nnz = max(1, -(-X.nnz // CSR_MIN_TILES))
    starts = impl.tile_bounds(X.indices, n_features, max_width, max_nnz)
    n_tiles = starts.shape[0] - 1
    if n_tiles * (X.shape[0] + 1) * 8 > X.data.nbytes + X.indices.nbytes:
        return None
    if impl.has_duplicates(X.indptr, X.indices, n_features):
        X = X.copy()
        X.sum_duplicates()
    ptr, col, val = impl.build_tiles(X.indptr, X.indices, X.data, starts)
    return impl, (ptr, col, val, starts)


# --------------------------------------------------------------------------- #
# Threads for small problems
# --------------------------------------------------------------------------- #
#: Below this many multiply-adds per pass over the data (``n_samples *
#: n_params``) a fit runs on one thread: starting and joining threads (BLAS and
#: numba) at every evaluation then costs more than it saves, and on a busy
#: machine a descheduled thread stalls every parallel region.  digits (1 797
#: rows, 650 parameters: 1.2e6) is below it — its Newton-Cholesky fit takes
#: 0.55 s on one thread and 1.3-1.7 s with two, although forming its Hessian
#: is 7.6e8 multiply-adds — and 200k x 54 x 7 (7.7e7) is not.
SINGLE_THREAD_WORK = 4_000_000


def set_kernel_threads(n_threads: int) -> None:
    """Run the numba kernels of the calling thread on at most ``n_threads`` threads
    (numba's setting is per thread); nothing without numba."""
    if _linear.get() is None:
        return
    import numba

    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(int(n_threads), pool)))


#: threadpoolctl's controller and ``len(sys.modules)`` when it was made.
_controller: list[Any] = [None, -1]
#: BLAS thread counts to give back inside :func:`blas_unlimited` (a stack: one
#: entry per active :func:`blas_for_kernels` or limiting :func:`threads_for`).
_blas_saved: list[int] = []


def thread_controller() -> Any:
    """threadpoolctl's ``ThreadpoolController``, made again only after modules
    were imported (which may have loaded another BLAS or OpenMP library).

    Making one reads ``/proc/self/maps`` and inspects every loaded library:
    3-4 ms, three times per fit (``threadpool_limits`` makes a new one at each
    call), which was a tenth of a fit on digits."""
    n_modules = len(sys.modules)
    if _controller[0] is None or _controller[1] != n_modules:
        from threadpoolctl import ThreadpoolController

        _controller[:] = [ThreadpoolController(), n_modules]
    return _controller[0]


@contextlib.contextmanager
def threads_for(work: float) -> Iterator[None]:
    """Run the body on one thread (BLAS and numba) when ``work`` is below
    :data:`SINGLE_THREAD_WORK`; otherwise leave the thread counts alone."""
    if work >= SINGLE_THREAD_WORK:
        yield
        return
    # The kernels are imported first (not at their first call, inside the body),
    # so that numba's pool is limited and its libraries seen by the controller.
    with _numba_single_thread():
        controller = thread_controller()
        # A Hessian's GEMMs inside take the BLAS threads back (blas_unlimited):
        # digits' (2e8 multiply-adds) 20 ms -> 12 ms.
        _blas_saved.append(_blas_threads(controller))
        try:
            with controller.limit(limits=1):
                yield
        finally:
            _blas_saved.pop()


def _blas_threads(controller: Any) -> int:
    """The BLAS threads to give back in :func:`blas_unlimited`: the most any
    BLAS library has, or what an enclosing limit took away."""
    counts = [lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"]
    return max([*counts, *_blas_saved[-1:]], default=1)


# --------------------------------------------------------------------------- #
# BLAS threads while the kernels carry the data passes
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def blas_for_kernels(active: bool) -> Iterator[None]:
    """Keep BLAS on one thread in the body when ``active`` (the data passes of a
    fit run in the numba kernels, whose threads then have the cores).

    OpenBLAS's threads spin for about 0.1 s after each call before they sleep
    (its ``THREAD_TIMEOUT``); every vector operation of a solver wakes them, and
    on a 2-core machine a numba kernel that starts meanwhile shares its cores
    with them: measured 1.6-1.9x slower (a CSR product after a dot product of
    1e6 values), and W4 fits 10-25 % slower.  A solver's own BLAS work (dot
    products, small factorisations) loses little on one thread; forming a
    Hessian does, so :meth:`softmax.objective.Objective.hessian` takes the
    threads back by :func:`blas_unlimited`.
    """
    if not active:
        yield
        return
    controller = thread_controller()
    _blas_saved.append(_blas_threads(controller))
    try:
        with controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _blas_saved.pop()


@contextlib.contextmanager
def kernels_for_blas(active: bool) -> Iterator[None]:
    """Run the numba kernels of the body on one thread when ``active`` (BLAS's
    GEMMs carry the data passes: dense data with many classes).

    The mirror image of :func:`blas_for_kernels`: numba's idle threads spin
    after each kernel too, and a GEMM or NumPy operation that follows shares
    the cores with them.  Measured on W3's blocks (2 097 x 512 rows, 1 000
    classes; GEMM, cross-entropy and softmax kernels, GEMM): 1.90 s per
    evaluation with two kernel threads, 1.56 s with one — the kernels
    themselves ran faster on one thread (0.31 s against 0.47 s), and so did
    the GEMMs (1.20 s against 1.31 s).
    """
    if not active:
        yield
        return
    with _numba_single_thread():
        yield


@contextlib.contextmanager
def _numba_single_thread() -> Iterator[None]:
    """numba's kernels of the calling thread on one thread in the body (importing
    them first); nothing without numba."""
    if _linear.get() is None:
        yield
        return
    import numba

    n_threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(n_threads)


@contextlib.contextmanager
def blas_unlimited() -> Iterator[None]:
    """Inside :func:`blas_for_kernels`, give BLAS back the threads it had (for
    GEMM-heavy work); elsewhere nothing changes."""
    if not _blas_saved or _blas_saved[-1] <= 1:
        yield
        return
    with thread_controller().limit(limits=_blas_saved[-1], user_api="blas"):
        yield
