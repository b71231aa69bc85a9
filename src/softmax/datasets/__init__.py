"""Small real data sets bundled with the package (used by ``softmax demo``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_penguins", "penguins_path"]


def penguins_path() -> Path:
    """Path of the bundled ``penguins.csv`` file."""
    return Path(str(resources.files("softmax.datasets") / "data" / "penguins.csv"))


def load_penguins() -> Any:
    """The Palmer penguins table: 344 penguins of 3 species, as a pandas DataFrame.

    Columns: ``species`` (Adelie, Chinstrap, Gentoo — the usual target),
    ``island`` (Biscoe, Dream, Torgersen), ``bill_length_mm``,
    ``bill_depth_mm``, ``flipper_length_mm``, ``body_mass_g``, ``sex``
    (female, male) and ``year`` (2007-2009).  Two penguins have no
    measurements and 11 have no recorded sex (missing values, ``NaN``).

    Source: Gorman KB, Williams TD, Fraser WR (2014), "Ecological sexual
    dimorphism and environmental variability within a community of Antarctic
    penguins (genus Pygoscelis)", PLoS ONE 9(3): e90081, data collected by the
    Palmer Station Long Term Ecological Research program; compiled as the
    ``palmerpenguins`` R package by Allison Horst, Alison Hill and Kristen
    Gorman (https://allisonhorst.github.io/palmerpenguins/).  The data are
    released under the CC0 1.0 license (public domain dedication).  This copy
    is the ``penguins.csv`` file of the ``palmerpenguins`` Python package
    0.1.6 (identical to the R package's ``penguins`` table).

    Returns
    -------
    pandas.DataFrame of shape (344, 8)
    """
    import pandas as pd

    return pd.read_csv(penguins_path())
