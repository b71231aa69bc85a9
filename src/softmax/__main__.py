"""``python -m softmax``: the command line (see :mod:`softmax.cli`)."""

from __future__ import annotations

import sys


def _run() -> int:
    try:
        from softmax.cli import main
    except ModuleNotFoundError as exc:  # the cli extra is not installed
        print(
            f"error: the command line needs {exc.name!r}; install it with "
            "pip install 'softmax[cli]'",
            file=sys.stderr,
        )
        return 1
    return main()


if __name__ == "__main__":
    sys.exit(_run())
