"""Shared fixtures for the test suite (keep this file small)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy generator seeded from the test's id: deterministic, but different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
