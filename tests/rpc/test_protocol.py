"""JSON-RPC protocol behaviour over real HTTP: auth, parse errors, codes, batches, limits."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from wattchain.rpc.auth import COOKIE_FILE

from .helpers import ChainData, RpcFailure, RunningNode, start_node, stop_node


def test_cookie_file_is_private_and_removed_on_shutdown(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "n", chain)
    cookie_path = tmp_path / "n" / COOKIE_FILE
    try:
        mode = stat.S_IMODE(os.stat(cookie_path).st_mode)
        assert mode == 0o600
        user, _, secret = cookie_path.read_text().partition(":")
        assert user == "__cookie__" and len(secret) == 64 and int(secret, 16) >= 0
        assert node.call("getblockcount") == len(chain.blocks) - 1
    finally:
        stop_node(node)
    assert not cookie_path.exists()


def test_auth_failures_are_401_with_basic_challenge(node: RunningNode) -> None:
    body = json.dumps({"method": "getblockcount", "params": [], "id": 1})
    wrong = node.cookie[:-1] + ("0" if node.cookie[-1] != "0" else "1")
    for credential in ("", wrong, "__cookie__:", "someone:" + node.cookie.split(":")[1]):
        status, reply = node.post(body, credential=credential)
        assert status == 401 and reply == b""
    status, _ = node.post(body)
    assert status == 200


def test_garbage_authorization_header_is_401(node: RunningNode) -> None:
    import urllib.request, urllib.error
    for header in ("Basic !!!notbase64", "Bearer abc", "Basic " + base64.b64encode(b"x").decode()):
        request = urllib.request.Request(node.url, data=b"{}", method="POST",
                                         headers={"Authorization": header})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 401
        assert info.value.headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'


def test_rpcuser_password_replaces_the_cookie(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "n", chain, rpcuser="alice", rpcpassword="s3cret")
    try:
        assert not (tmp_path / "n" / COOKIE_FILE).exists()
        body = json.dumps({"method": "getblockcount", "id": 1})
        assert node.post(body, credential="alice:s3cret")[0] == 200
        assert node.post(body, credential="alice:s3creT")[0] == 401
        assert node.post(body, credential="bob:s3cret")[0] == 401
    finally:
        stop_node(node)


def test_only_post_is_served(node: RunningNode) -> None:
    status, _ = node.post(b"", method="GET")
    assert status == 405


def test_parse_error_is_minus_32700_with_http_500(node: RunningNode) -> None:
    for body in (b"{not json", b"\xff\xfe", b"[1, 2", b"NaN"):
        status, reply = node.post(body)
        assert status == 500
        parsed = json.loads(reply)
        assert parsed == {"result": None, "error": {"code": -32700, "message": "Parse error"},
                          "id": None}
    status, reply = node.post(b'"just a string"')
    assert status == 500
    assert json.loads(reply)["error"] == {"code": -32700,
                                          "message": "Top-level object parse error"}


def test_unknown_method_is_minus_32601_http_404(node: RunningNode) -> None:
    status, reply = node.post(json.dumps({"method": "getfoo", "params": [], "id": 9}))
    assert status == 404
    assert json.loads(reply) == {"result": None,
                                 "error": {"code": -32601, "message": "Method not found"},
                                 "id": 9}


def test_invalid_request_objects_are_minus_32600_http_400(node: RunningNode) -> None:
    cases = [({"id": 1}, "Missing method"), ({"method": 5, "id": 1}, "Method must be a string"),
             ({"method": "getblockcount", "params": 3, "id": 1},
              "Params must be an array or object"),
             ({"jsonrpc": "3.0", "method": "getblockcount", "id": 1},
              "JSON-RPC version not supported")]
    for request, message in cases:
        status, reply = node.post(json.dumps(request))
        assert status == 400, request
        assert json.loads(reply)["error"] == {"code": -32600, "message": message}


def test_wrong_param_count_is_minus_1_with_help(node: RunningNode) -> None:
    with pytest.raises(RpcFailure) as info:
        node.call("getblockhash")
    assert info.value.code == -1 and info.value.status == 500
    assert info.value.message.startswith("getblockhash height")
    with pytest.raises(RpcFailure) as info:
        node.call("getblockcount", 1)
    assert info.value.code == -1


def test_wrong_param_type_is_minus_3(node: RunningNode) -> None:
    with pytest.raises(RpcFailure) as info:
        node.call("getblockhash", "1")
    assert info.value.code == -3
    assert info.value.message == ('Wrong type passed:\n{\n    "Position 1 (height)": '
                                  '"JSON value of type string is not of expected type number"\n}')
    with pytest.raises(RpcFailure) as info:
        node.call("getblockheader", node.call("getbestblockhash"), "yes")
    assert info.value.code == -3 and "Position 2 (verbose)" in info.value.message


def test_bad_hash_and_out_of_range_are_minus_8_and_minus_5(node: RunningNode) -> None:
    with pytest.raises(RpcFailure) as info:
        node.call("getblock", "abc")
    assert (info.value.code, info.value.message) == (
        -8, "blockhash must be of length 64 (not 3, for 'abc')")
    with pytest.raises(RpcFailure) as info:
        node.call("getblock", "zz" * 32)
    assert info.value.code == -8 and "must be hexadecimal string" in info.value.message
    with pytest.raises(RpcFailure) as info:
        node.call("getblock", "00" * 32)
    assert (info.value.code, info.value.message) == (-5, "Block not found")
    with pytest.raises(RpcFailure) as info:
        node.call("getblockhash", 1000)
    assert (info.value.code, info.value.message) == (-8, "Block height out of range")
    with pytest.raises(RpcFailure) as info:
        node.call("getblockhash", 1.5)
    assert info.value.code == -1


def test_named_parameters(node: RunningNode) -> None:
    best = node.call("getbestblockhash")
    assert node.call("getblockhash", named={"height": 0}) == node.call("getblockhash", 0)
    header_hex = node.call("getblockheader", named={"blockhash": best, "verbose": False})
    assert isinstance(header_hex, str)
    with pytest.raises(RpcFailure) as info:
        node.call("getblockhash", named={"heigth": 0})
    assert (info.value.code, info.value.message) == (-8, "Unknown named parameter heigth")
    with pytest.raises(RpcFailure) as info:  # required parameter missing
        node.call("getblock", named={"verbosity": 1})
    assert info.value.code == -3


def test_batch_mixes_results_and_errors_in_order(node: RunningNode) -> None:
    batch = [{"method": "getblockcount", "id": 1},
             {"method": "nope", "id": 2},
             "not an object",
             {"method": "getblockhash", "params": [0], "id": 3},
             {"jsonrpc": "2.0", "method": "getblockcount"},  # notification: no reply
             {"jsonrpc": "2.0", "method": "getblockhash", "params": ["x"], "id": 4}]
    status, reply = node.post(json.dumps(batch))
    assert status == 200
    replies = json.loads(reply)
    assert len(replies) == 5
    height = len(node.chain.blocks) - 1
    assert replies[0] == {"result": height, "error": None, "id": 1}
    assert replies[1]["error"]["code"] == -32601 and replies[1]["id"] == 2
    assert replies[2] == {"result": None, "error": {"code": -32600,
                                                    "message": "Invalid Request object"},
                          "id": None}
    assert replies[3]["result"] == node.chain.params.genesis_hash[::-1].hex()
    assert replies[4]["jsonrpc"] == "2.0" and replies[4]["error"]["code"] == -3
    assert "result" not in replies[4] and replies[4]["id"] == 4


def test_jsonrpc_2_replies_200_and_notifications_204(node: RunningNode) -> None:
    status, reply = node.post(json.dumps({"jsonrpc": "2.0", "method": "nope", "id": "a"}))
    assert status == 200
    assert json.loads(reply) == {"jsonrpc": "2.0",
                                 "error": {"code": -32601, "message": "Method not found"},
                                 "id": "a"}
    status, reply = node.post(json.dumps({"jsonrpc": "2.0", "method": "getblockcount",
                                          "id": 5}))
    assert json.loads(reply) == {"jsonrpc": "2.0", "result": len(node.chain.blocks) - 1,
                                 "id": 5}
    status, reply = node.post(json.dumps({"jsonrpc": "2.0", "method": "getblockcount"}))
    assert (status, reply) == (204, b"")


def test_request_size_limit(tmp_path: Path, chain: ChainData) -> None:
    node = start_node(tmp_path / "n", chain, max_body_bytes=4096)
    try:
        big = json.dumps({"method": "decoderawtransaction", "params": ["00" * 4000], "id": 1})
        status, _ = node.post(big)
        assert status == 413
        assert node.call("getblockcount") == len(chain.blocks) - 1  # still serving
    finally:
        stop_node(node)


def test_help_and_uptime_and_stop(node: RunningNode) -> None:
    text = node.call("help")
    assert "== Blockchain ==" in text and "getblockhash height" in text
    assert node.call("help", "getblock").startswith("getblock blockhash ( verbosity )")
    assert node.call("help", "nosuch") == "help: unknown command: nosuch"
    assert isinstance(node.call("uptime"), int) and node.call("uptime") >= 0
    assert not node.services.shutdown.is_set()
    assert node.call("stop") == "wattchain server stopping"
    assert node.services.shutdown.is_set()


def test_warmup_answers_minus_28_except_help(node: RunningNode) -> None:
    node.server.dispatcher.warmup = "Loading block index..."
    with pytest.raises(RpcFailure) as info:
        node.call("getblockcount")
    assert (info.value.code, info.value.message) == (-28, "Loading block index...")
    assert "getblockcount" in node.call("help")
    node.server.dispatcher.warmup = None
    assert node.call("getblockcount") == len(node.chain.blocks) - 1


def test_wallet_path_is_served(node: RunningNode) -> None:
    status, reply = node.post(json.dumps({"method": "getblockcount", "id": 1}),
                              path="/wallet/main")
    assert status == 200 and json.loads(reply)["result"] == len(node.chain.blocks) - 1
