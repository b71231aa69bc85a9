"""Checkpoint files for resumable fits: the L-BFGS state plus a fingerprint.

A checkpoint is a NumPy ``.npz`` archive (no pickle: it is read with
``allow_pickle=False``) holding the solver state of
:class:`softmax.solvers._lbfgs.LBFGSState` and a fingerprint, the SHA-256 of
the parameters that define the objective (``penalty``, ``C``, ``l1_ratio``,
``fit_intercept``, ``class_weight``) and of the data's one-pass statistics
(rows, columns, dtype, classes, per-class counts and weights, column means and
squared deviations, to the bit) and of its contents (a SHA-256 of every chunk's
values, labels and weights, in chunk order).  A checkpoint whose fingerprint differs — other
data, other chunking, other parameters — is refused.  ``tol`` and ``max_iter``
are not part of it: a fit may be resumed with more iterations.

Writes are atomic: the archive is written to a temporary file in the same
folder and moved over the old one with ``os.replace``, so a crash while
saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from softmax.solvers._lbfgs import LBFGSState

__all__ = ["Checkpoint", "fingerprint"]

_VERSION = 1


def fingerprint(est: Any, stats: Any) -> str:
    """SHA-256 (hex) of the objective-defining parameters and the data statistics."""
    h = hashlib.sha256()
    params = {
        k: repr(getattr(est, k))
        for k in ("penalty", "C", "l1_ratio", "fit_intercept", "class_weight")
    }
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(json.dumps([stats.n, stats.n_features, str(stats.dtype)]).encode())
    h.update(repr(stats.classes.tolist()).encode())
    for a in (stats.counts, stats.weights, stats.mean, stats.m2):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(stats.digest)
    return h.hexdigest()


class Checkpoint:
    """The checkpoint file at ``path`` for a fit with the given ``fingerprint``."""

    def __init__(self, path: str | os.PathLike[str], fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    def load(self, n_params: int) -> LBFGSState | None:
        """The saved state, or None when there is no file yet; ValueError if foreign."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"checkpoint={str(self.path)!r} is not a readable checkpoint file ({exc})"
            ) from None
        if int(data.get("version", -1)) != _VERSION or "fingerprint" not in data:
            raise ValueError(f"checkpoint={str(self.path)!r} is not a softmax checkpoint file")
        if str(data["fingerprint"]) != self.fingerprint or data["x"].shape != (n_params,):
            raise ValueError(
                f"checkpoint={str(self.path)!r} was written by a fit on other data or with "
                "other parameters (penalty, C, l1_ratio, fit_intercept, class_weight, or the "
                "data's rows, chunks or classes differ); delete it or use another path"
            )
        return LBFGSState(
            x=data["x"],
            f=float(data["f"]),
            g=data["g"],
            S=list(data["S"]),
            Y=list(data["Y"]),
            n_iter=int(data["n_iter"]),
            history=[float(v) for v in data["history"]],
        )

    def save(self, state: LBFGSState) -> None:
        """Write ``state`` atomically (temporary file, then ``os.replace``)."""
        p = state.x.shape[0]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    version=np.array(_VERSION),
                    fingerprint=np.array(self.fingerprint),
                    x=state.x,
                    f=np.array(state.f),
                    g=state.g,
                    S=np.array(state.S).reshape(len(state.S), p),
                    Y=np.array(state.Y).reshape(len(state.Y), p),
                    n_iter=np.array(state.n_iter),
                    history=np.array(state.history, dtype=np.float64),
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
