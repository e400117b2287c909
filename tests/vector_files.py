"""Shared test fixtures: where the real-implementation vectors live.

The vectors are read from ``../shared/vectors`` (next to the checkout, as CI has it) or from
``$WATTCHAIN_VECTORS``; they are never copied into the project. Without them, the tests that
need them skip and say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent


def vectors_dir() -> Path:
    env = os.environ.get("WATTCHAIN_VECTORS")
    return Path(env) if env else _REPO.parent / "shared" / "vectors"


def vector_path(*parts: str) -> Path:
    """Path of a vector file, skipping the calling test if the vectors folder is absent."""
    path = vectors_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test vectors not found at {path} (expected ../shared/vectors beside the "
                    f"checkout, or set WATTCHAIN_VECTORS)")
    return path


def load_vector_json(*parts: str):
    with open(vector_path(*parts), encoding="utf-8") as handle:
        return json.load(handle)
