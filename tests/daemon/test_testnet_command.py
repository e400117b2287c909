"""`wattchain testnet up|status|down` with real node processes on loopback."""

from __future__ import annotations

import json
import sys
import subprocess

from wattchain.testnet import STATE_FILENAME, _pid_alive, load_state, rpc_call


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattchain", "testnet", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_testnet_up_produces_blocks_and_down_stops_it(tmp_path) -> None:
    directory = tmp_path / "net"
    up = _cli("up", "--nodes", "2", "--dir", str(directory))
    try:
        assert up.returncode == 0, up.stderr
        state = load_state(directory)
        nodes = state["nodes"]
        assert len(nodes) == 2 and all(_pid_alive(n["pid"]) for n in nodes)
        # both nodes share one genesis and stake: wait (server-side, no polling) for height 3
        for node in nodes:
            tip = rpc_call(node, "waitforblockheight", 3, 60_000)
            assert tip["height"] >= 3
        genesis = {rpc_call(node, "getblockhash", 0) for node in nodes}
        assert len(genesis) == 1
        assert all(rpc_call(node, "getconnectioncount") >= 1 for node in nodes)
        status = _cli("status", "--dir", str(directory))
        assert status.returncode == 0 and status.stdout.count("height") == 2
        again = _cli("up", "--nodes", "2", "--dir", str(directory))
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        down = _cli("down", "--dir", str(directory))
    assert down.returncode == 0 and "stopped 2 node(s)" in down.stdout
    assert not any(_pid_alive(n["pid"]) for n in json.loads(
        (directory / STATE_FILENAME).read_text())["nodes"])
    # each node shut down cleanly: its log says the chain state was flushed
    for node in nodes:
        log = (directory / node["name"] / "debug.log").read_text()
        assert "chain state flushed; node stopped" in log
    assert "stopped" in _cli("status", "--dir", str(directory)).stdout
    removed = _cli("down", "--dir", str(directory), "--remove")
    assert removed.returncode == 0 and "stopped 0 node(s)" in removed.stdout
    assert not directory.exists()
