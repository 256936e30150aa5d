"""Fixtures every test folder shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Converted built-in models go to a per-session cache, not the user's home."""
    old = os.environ.get("XIMAGENET12_CACHE")
    os.environ["XIMAGENET12_CACHE"] = str(tmp_path_factory.mktemp("ximagenet12-cache"))
    yield
    if old is None:
        os.environ.pop("XIMAGENET12_CACHE", None)
    else:
        os.environ["XIMAGENET12_CACHE"] = old
