"""The public surface: a light import and a curated ``__all__``."""

from __future__ import annotations

import subprocess
import sys

import softmax

HEAVY = ("torch", "dask", "numba", "matplotlib", "pandas")

SPECIAL = (
    "entropy",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "sigmoid",
    "softmax",
    "softmax_vjp",
)


def test_import_is_light():
    code = (
        "import sys, softmax\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"`import softmax` imported {out.stdout.strip()}"


def test_all_is_sorted_unique_and_resolves():
    names = softmax.__all__
    assert list(names) == sorted(set(names))
    for name in names:
        assert hasattr(softmax, name), name


def test_all_contains_the_special_functions():
    assert set(SPECIAL) <= set(softmax.__all__)
    for name in SPECIAL:
        func = getattr(softmax, name)
        assert callable(func)
        assert func.__module__ == "softmax.special"
        assert func.__doc__ and func.__doc__.strip(), name


def test_version():
    assert isinstance(softmax.__version__, str) and softmax.__version__


def test_metrics_module_is_light():
    # softmax.metrics needs NumPy only: no scikit-learn, no plotting or data-frame library
    code = (
        "import sys, softmax.metrics\n"
        f"heavy = [m for m in {(*HEAVY, 'sklearn')!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"`import softmax.metrics` imported {out.stdout.strip()}"


def test_temperature_scaling_is_exported_lazily():
    assert "TemperatureScaling" in softmax.__all__
    from softmax.estimators import TemperatureScaling

    assert softmax.TemperatureScaling is TemperatureScaling


def test_model_file_api_is_lazy_and_light():
    # (scikit-learn itself imports pandas when present, so only onnx and co. are checked)
    assert {"ModelFileError", "load", "save"} <= set(softmax.__all__)
    code = (
        "import sys, softmax\n"
        "assert 'softmax.io' not in sys.modules\n"
        "softmax.save, softmax.load, softmax.ModelFileError\n"
        "import softmax.io\n"
        "heavy = [m for m in ('onnx', 'onnxruntime', 'torch', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"`import softmax.io` imported {out.stdout.strip()}"
    assert issubclass(softmax.ModelFileError, ValueError)
