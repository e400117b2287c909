"""Fixtures: one generated chain per session, a fresh node + RPC server per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import ChainData, RunningNode, build_chain, start_node, stop_node


@pytest.fixture(scope="session")
def chain() -> ChainData:
    return build_chain()


@pytest.fixture
def node(tmp_path: Path, chain: ChainData) -> Iterator[RunningNode]:
    running = start_node(tmp_path / "node", chain)
    try:
        yield running
    finally:
        stop_node(running)
