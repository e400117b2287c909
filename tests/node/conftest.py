"""Fixtures for the storage/chainstate tests: deterministic keys, params and chains."""

from __future__ import annotations

import random

import pytest

from wattchain.consensus.params import ChainParams
from wattchain.node.chaingen import Branch, Key, generated_params, make_keys

@pytest.fixture
def keys() -> list[Key]:
    return make_keys(4)


@pytest.fixture
def params(keys: list[Key]) -> ChainParams:
    return generated_params(keys)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.fixture
def branch(params: ChainParams, keys: list[Key]) -> Branch:
    return Branch(params, keys)

