"""``wattchain testnet up|status|down``: a local multi-node regtest network in one command.

``up`` creates N data directories under ``--dir``, each with a new HD wallet, and writes one
regtest genesis for all of them: the premine pays ``--outputs`` outputs of ``--coins`` coins to
every node's first address (several outputs, because a staked coin is locked for the maturity
period: a node with one coin would stake once every ten blocks). Each node's
``wattchain.conf`` lists the same premine lines (so all compute the same genesis hash), its own
ports on 127.0.0.1, and ``addnode`` lines to the nodes before it. The nodes start as separate
processes (``python -m wattchain node``), detached from the terminal, logging to
``nodeI/debug.log``; ``testnet.json`` records their pids and ports. ``status`` asks each node
over JSON-RPC (cookie auth) for height, tip, peers and mempool size; ``down`` sends ``stop`` and
waits for every process to exit (SIGTERM after a timeout, which is just as clean).

Genesis outputs are mature at once (consensus/params.py), so the nodes stake from block 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wattchain.consensus.params import regtest_params
from wattchain.core.tx import COIN
from wattchain.node.config import CONFIG_FILENAME, WALLET_DIRNAME
from wattchain.rpc.auth import read_cookie
from wattchain.rpc.cli import CliError, RpcClient

STATE_FILENAME = "testnet.json"


class TestnetError(RuntimeError):
    """The testnet cannot be started, queried or stopped (the message says why)."""


TestnetError.__test__ = False  # type: ignore[attr-defined]


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free right now (bound and released together, so distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILENAME
    if not path.exists():
        raise TestnetError(f"no testnet in {directory} (missing {STATE_FILENAME})")
    return json.loads(path.read_text())


def rpc_client(node: dict[str, Any], timeout: float = 10.0) -> RpcClient:
    return RpcClient(f"http://127.0.0.1:{node['rpc_port']}/", read_cookie(node["datadir"]),
                     timeout)


def rpc_call(node: dict[str, Any], method: str, *params: Any) -> Any:
    reply = rpc_client(node).post({"jsonrpc": "1.0", "id": method, "method": method,
                                   "params": list(params)})
    if reply.get("error"):
        raise TestnetError(f"{method} on {node['name']}: {reply['error']}")
    return reply["result"]


def stake_limit(total_stake: int) -> int:
    """An easiest target at which the whole premine wins about one slot in one: a few blocks
    of retargeting then reach the regtest spacing, and rival blocks for one slot stay rare."""
    return min(regtest_params().pos_limit, (1 << 256) // max(1, total_stake))


def write_node_config(datadir: Path, p2p_port: int, rpc_port: int, premine: list[str],
                      peers: list[int], pos_limit: int) -> None:
    lines = ["# written by `wattchain testnet up`", "network=regtest", "[regtest]",
             "bind=127.0.0.1", f"port={p2p_port}", "rpcbind=127.0.0.1", f"rpcport={rpc_port}",
             "staking=1", "printtoconsole=0", f"poslimit={pos_limit:x}"]
    lines += [f"premine={item}" for item in premine]
    lines += [f"addnode=127.0.0.1:{port}" for port in peers]
    (datadir / CONFIG_FILENAME).write_text("\n".join(lines) + "\n")


def prepare(directory: Path, nodes: int, coins: int, outputs: int) -> dict[str, Any]:
    """Data directories, wallets and configs for ``nodes`` nodes; returns the state record."""
    from wattchain.wallet.wallet import Wallet

    if nodes < 1:
        raise TestnetError("a testnet needs at least one node")
    directory.mkdir(parents=True, exist_ok=True)
    params = regtest_params()
    addresses = []
    records = []
    ports = free_ports(2 * nodes)
    for i in range(nodes):
        datadir = directory / f"node{i}"
        if datadir.exists():
            raise TestnetError(f"{datadir} already exists: use `testnet down` and remove "
                               f"{directory}, or pick another --dir")
        datadir.mkdir()
        wallet = Wallet.create(datadir / WALLET_DIRNAME, params)
        try:
            addresses.append(wallet.get_new_address("stake"))
        finally:
            wallet.close()
        records.append({"name": f"node{i}", "datadir": str(datadir.resolve()),
                        "p2p_port": ports[2 * i], "rpc_port": ports[2 * i + 1], "pid": None})
    premine = [f"{address}:{coins}" for address in addresses for _ in range(outputs)]
    limit = stake_limit(nodes * outputs * coins * COIN)
    for i, record in enumerate(records):
        write_node_config(Path(record["datadir"]), record["p2p_port"], record["rpc_port"],
                          premine, [records[j]["p2p_port"] for j in range(i)], limit)
    return {"network": "regtest", "nodes": records, "addresses": addresses}


def launch(state: dict[str, Any], directory: Path) -> None:
    for record in state["nodes"]:
        log = open(Path(record["datadir"]) / "stdout.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "wattchain", "--network", "regtest", "node",
             "--datadir", record["datadir"]],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        record["pid"] = process.pid
    (directory / STATE_FILENAME).write_text(json.dumps(state, indent=2))


def wait_ready(state: dict[str, Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for record in state["nodes"]:
        while True:
            if not _pid_alive(record["pid"]):
                tail = (Path(record["datadir"]) / "stdout.log").read_text()[-2000:]
                raise TestnetError(f"{record['name']} exited during start-up:\n{tail}")
            try:
                rpc_call(record, "getblockcount")
                break
            except (CliError, OSError, TestnetError):
                if time.monotonic() > deadline:
                    raise TestnetError(f"{record['name']} did not answer RPC within "
                                       f"{timeout:.0f} s") from None
                time.sleep(0.2)  # polling another process's start-up: nothing to await


def status(directory: Path) -> list[dict[str, Any]]:
    rows = []
    for record in load_state(directory)["nodes"]:
        row: dict[str, Any] = {"name": record["name"], "pid": record["pid"],
                               "rpc_port": record["rpc_port"]}
        if not _pid_alive(record["pid"]):
            row["state"] = "stopped"
        else:
            try:
                row.update(state="running", height=rpc_call(record, "getblockcount"),
                           tip=rpc_call(record, "getbestblockhash")[:16],
                           peers=rpc_call(record, "getconnectioncount"),
                           mempool=rpc_call(record, "getmempoolinfo")["size"])
            except (CliError, OSError, TestnetError) as exc:
                row.update(state="unreachable", error=str(exc))
        rows.append(row)
    return rows


def down(directory: Path, timeout: float = 30.0) -> int:
    """Stop every node; returns how many were running."""
    nodes = load_state(directory)["nodes"]
    running = [n for n in nodes if n["pid"] and _pid_alive(n["pid"])]
    for record in running:
        try:
            rpc_call(record, "stop")
        except (CliError, OSError, TestnetError):
            os.kill(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for record in running:
        while _pid_alive(record["pid"]) and time.monotonic() < deadline:
            _reap(record["pid"])
            time.sleep(0.1)  # waiting for another process to exit
        if _pid_alive(record["pid"]):
            os.kill(record["pid"], signal.SIGTERM)
    return len(running)


def _reap(pid: int) -> None:
    """Collect our own child's exit status (when ``up`` and ``down`` share a process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _print_status(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row.get("state") == "running":
            print(f"{row['name']}: height {row['height']} tip {row['tip']}.. peers "
                  f"{row['peers']} mempool {row['mempool']} (rpc {row['rpc_port']})")
        else:
            print(f"{row['name']}: {row.get('state')} {row.get('error', '')}".rstrip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="testnet_command", required=True)
    up_parser = sub.add_parser("up", help="create and start a local regtest network")
    up_parser.add_argument("--nodes", type=int, default=3)
    up_parser.add_argument("--dir", default=".testnet", help="where the nodes live")
    up_parser.add_argument("--coins", type=int, default=10_000,
                           help="coins per premine output (default 10000)")
    up_parser.add_argument("--outputs", type=int, default=20,
                           help="premine outputs per node (default 20)")
    up_parser.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                           help="print heights every second for this long after start")
    status_parser = sub.add_parser("status", help="heights, peers and mempools")
    status_parser.add_argument("--dir", default=".testnet")
    down_parser = sub.add_parser("down", help="stop the nodes")
    down_parser.add_argument("--dir", default=".testnet")
    down_parser.add_argument("--remove", action="store_true",
                             help="delete the testnet directory once every node stopped")


def main(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    try:
        if args.testnet_command == "up":
            state = prepare(directory, args.nodes, args.coins, args.outputs)
            launch(state, directory)
            wait_ready(state)
            print(f"testnet of {args.nodes} nodes running in {directory} "
                  f"(`wattchain testnet status --dir {directory}`, "
                  f"`wattchain testnet down --dir {directory}`)")
            end = time.monotonic() + args.watch
            while time.monotonic() < end:
                time.sleep(1.0)  # a human-paced progress display
                _print_status(status(directory))
            return 0
        if args.testnet_command == "status":
            _print_status(status(directory))
            return 0
        stopped = down(directory)
        print(f"stopped {stopped} node(s)")
        if args.remove:
            if any(n["pid"] and _pid_alive(n["pid"]) for n in load_state(directory)["nodes"]):
                raise TestnetError(f"a node is still running; {directory} kept")
            shutil.rmtree(directory)
        return 0
    except TestnetError as exc:
        print(f"wattchain testnet: {exc}", file=sys.stderr)
        return 1
