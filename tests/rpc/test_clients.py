"""Independent clients: python-bitcoinlib's RawProxy, the REST interface, and wattchain-cli."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from bitcoin.rpc import JSONRPCError, RawProxy

from wattchain.core.header import StakeBlockHeader, deserialize_stake_block
from wattchain.core.tx import Transaction
from wattchain.rpc import cli

from .helpers import ChainData, RunningNode, start_node, stop_node


def display(h: bytes) -> str:
    return h[::-1].hex()


# ------------------------------------------------------------------ python-bitcoinlib
def test_bitcoinlib_rawproxy_with_cookie(node: RunningNode, tmp_path: Path) -> None:
    conf = tmp_path / "bitcoin.conf"
    conf.write_text(f"rpcconnect=127.0.0.1\nrpcport={node.server.port}\n"
                    f"datadir={node.datadir}\n")
    proxy = RawProxy(btc_conf_file=str(conf))  # reads <datadir>/.cookie as Core's clients do
    blocks = node.chain.blocks
    assert proxy.getblockcount() == len(blocks) - 1
    best = proxy.getblockhash(len(blocks) - 1)
    assert best == display(blocks[-1].hash)
    block = proxy.getblock(best)
    assert block["hash"] == best and block["tx"] == [display(t.txid)
                                                     for t in blocks[-1].transactions]
    tx = blocks[-1].transactions[1]
    decoded = proxy.decoderawtransaction(tx.to_hex())
    assert decoded["txid"] == display(tx.txid)
    assert decoded["vout"][1]["value"] == Decimal(tx.outputs[1].value) / 10**8
    with pytest.raises(JSONRPCError) as info:
        proxy.getblockhash(10**6)
    assert info.value.error["code"] == -8


def test_bitcoinlib_rawproxy_with_user_password(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "n", chain, rpcuser="u", rpcpassword="p4ss")
    try:
        proxy = RawProxy(service_url=f"http://u:p4ss@127.0.0.1:{node.server.port}")
        assert proxy.getbestblockhash() == display(chain.blocks[-1].hash)
        bad = RawProxy(service_url=f"http://u:wrong@127.0.0.1:{node.server.port}")
        with pytest.raises(Exception):
            bad.getblockcount()
    finally:
        stop_node(node)


# ------------------------------------------------------------------ REST
def test_rest_block_tx_headers_chaininfo(node: RunningNode) -> None:
    blocks = node.chain.blocks
    block = blocks[2]
    h = display(block.hash)
    status, ctype, body = node.get(f"/rest/block/{h}.bin")
    assert status == 200 and ctype == "application/octet-stream"
    assert deserialize_stake_block(body).hash == block.hash
    status, ctype, body = node.get(f"/rest/block/{h}.hex")
    assert status == 200 and body.decode().strip() == block.serialize().hex()
    status, ctype, body = node.get(f"/rest/block/{h}.json")
    full = json.loads(body)
    assert full["hash"] == h and full["tx"][1]["hex"] == block.transactions[1].to_hex()
    _, _, body = node.get(f"/rest/block/notxdetails/{h}.json")
    assert json.loads(body)["tx"] == [display(t.txid) for t in block.transactions]
    status, _, body = node.get(f"/rest/headers/3/{display(blocks[1].hash)}.bin")
    assert status == 200
    headers = []
    from wattchain.core.serialization import ByteReader
    reader = ByteReader(body)
    while reader.remaining:
        headers.append(StakeBlockHeader.read(reader))
    assert [x.hash for x in headers] == [b.hash for b in blocks[1:4]]
    _, _, body = node.get(f"/rest/headers/{display(blocks[-2].hash)}.json?count=5")
    assert [x["height"] for x in json.loads(body)] == [len(blocks) - 2, len(blocks) - 1]
    _, _, body = node.get("/rest/chaininfo.json")
    assert json.loads(body)["bestblockhash"] == display(blocks[-1].hash)
    _, _, body = node.get("/rest/blockhashbyheight/1.json")
    assert json.loads(body) == {"blockhash": display(blocks[1].hash)}
    _, _, body = node.get("/rest/mempool/info.json")
    assert json.loads(body)["size"] == 0
    _, _, body = node.get("/rest/mempool/contents.json")
    assert json.loads(body) == {}
    # errors: Core's statuses
    assert node.get(f"/rest/block/{'00' * 32}.json")[0] == 404
    assert node.get("/rest/block/xyz.json")[0] == 400
    assert node.get(f"/rest/block/{h}.xml")[0] == 404
    assert node.get(f"/rest/headers/0/{h}.json")[0] == 400
    assert node.get(f"/rest/tx/{display(block.transactions[1].txid)}.json")[0] == 404
    assert node.get("/rest/blockhashbyheight/999.json")[0] == 404


def test_rest_tx_from_mempool(node: RunningNode) -> None:
    import random
    coin = sorted((c for c in node.chain.branch.mature_coins() if c.key is not None),
                  key=lambda c: (c.outpoint.txid, c.outpoint.index))[0]
    tx = node.chain.branch.spend([coin], 1, random.Random(3), fee=1000)
    node.call("sendrawtransaction", tx.to_hex())
    status, _, body = node.get(f"/rest/tx/{display(tx.txid)}.bin")
    assert status == 200 and Transaction.deserialize(body) == tx
    _, _, body = node.get(f"/rest/tx/{display(tx.txid)}.json")
    assert json.loads(body)["txid"] == display(tx.txid)


# ------------------------------------------------------------------ wattchain-cli
def run_cli(node: RunningNode, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    base = ["-rpcconnect", "127.0.0.1", "-rpcport", str(node.server.port),
            f"-datadir={node.datadir}"]
    try:
        status = cli.run(base + list(args), io.StringIO(), out, err)
    except cli.CliError as exc:
        return exc.status, out.getvalue(), str(exc)
    return status, out.getvalue(), err.getvalue()


def test_cli_basic_calls_and_argument_parsing(node: RunningNode) -> None:
    blocks = node.chain.blocks
    assert run_cli(node, "getblockcount") == (0, f"{len(blocks) - 1}\n", "")
    status, out, _ = run_cli(node, "getblockhash", "1")  # number parsed as JSON
    assert status == 0 and out.strip() == display(blocks[1].hash)
    status, out, _ = run_cli(node, "getblock", display(blocks[1].hash), "2")
    assert json.loads(out)["tx"][0]["txid"] == display(blocks[1].transactions[0].txid)
    status, out, _ = run_cli(node, "getblockheader", display(blocks[1].hash), "false")
    assert out.strip() == blocks[1].header.serialize().hex()
    status, out, _ = run_cli(node, "-named", "getblockheader",
                             f"blockhash={display(blocks[1].hash)}", "verbose=false")
    assert out.strip() == blocks[1].header.serialize().hex()
    # a string parameter that looks like a number stays a string
    status, out, _ = run_cli(node, "decodescript", "51")
    assert status == 0 and json.loads(out)["asm"] == "1"
    # JSON objects/arrays are parsed
    fmt_addr = node.call("createmultisig", 1, [node.chain.keys[0].pubkey.hex()])["address"]
    status, out, _ = run_cli(node, "createrawtransaction", f'[{{"txid":"{"11" * 32}",'
                             f'"vout":0}}]', f'{{"{fmt_addr}":0.5}}')
    assert status == 0 and Transaction.from_hex(out.strip()).outputs[0].value == 50_000_000
    # amounts keep full precision in the printed JSON
    status, out, _ = run_cli(node, "decoderawtransaction", blocks[1].transactions[1].to_hex())
    assert '"value": 0.00000000,' in out   # the coinstake's empty marker output
    value = blocks[1].transactions[1].outputs[1].value
    assert f'"value": {value // 10**8}.{value % 10**8:08d},' in out


def test_cli_errors_and_exit_codes(node: RunningNode, tmp_path: Path) -> None:
    status, out, err = run_cli(node, "getblockhash", "1000")
    assert status == 8 and err == "error code: -8\nerror message:\nBlock height out of range\n"
    status, _, err = run_cli(node, "nosuchmethod")
    assert status == 32601 and "Method not found" in err
    status, _, err = run_cli(node, "getblockhash", "{bad json")
    assert status == 1 and "Error parsing JSON" in err
    status = cli.main(["-rpcport", str(node.server.port), f"-datadir={tmp_path}",
                       "getblockcount"])
    assert status == 1  # no cookie there
    status = cli.main(["-rpcport", str(node.server.port), "-rpcpassword=wrong",
                       "getblockcount"])
    assert status == 1


def test_cli_getinfo(node: RunningNode) -> None:
    status, out, _ = run_cli(node, "-getinfo")
    info = json.loads(out)
    assert status == 0 and info["blocks"] == len(node.chain.blocks) - 1
    assert info["chain"] == "regtest" and info["connections"]["total"] == 0
    assert "wallet" not in info and info["mempool"]["size"] == 0


def test_cli_friendly_shortcuts(node: RunningNode) -> None:
    status, out, _ = run_cli(node, "status")
    assert status == 0 and json.loads(out)["blocks"] == len(node.chain.blocks) - 1
    status, out, _ = run_cli(node, "tip")
    assert json.loads(out)["bestblockhash"] == display(node.chain.blocks[-1].hash)
    status, _, err = run_cli(node, "balance")
    assert status == 18 and "not loaded" in err


def test_cli_console_script(node: RunningNode) -> None:
    exe = shutil.which("wattchain-cli") or str(Path(sys.executable).parent / "wattchain-cli")
    result = subprocess.run([exe, "-rpcconnect", "127.0.0.1", "-rpcport", str(node.server.port),
                             "-datadir", str(node.datadir), "getbestblockhash"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == display(node.chain.blocks[-1].hash)
