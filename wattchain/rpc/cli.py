"""``wattchain-cli``: a JSON-RPC command-line client in the manner of ``bitcoin-cli``.

    wattchain-cli [options] <command> [params]       e.g. wattchain-cli -regtest getblockcount
    wattchain-cli [options] -named <command> [name=value ...]
    wattchain-cli [options] -getinfo                  a summary of the node (friendly view)
    wattchain-cli [options] status | balance | newaddress | send ADDR AMOUNT | peers | tip
                                                      friendly shortcuts (see FRIENDLY)

Options (``-opt=value`` or ``-opt value``): ``-rpcconnect`` (127.0.0.1), ``-rpcport`` (the
network's RPC port), ``-datadir`` (default ``~/.wattchain``; the cookie is ``<datadir>/.cookie``),
``-rpccookiefile``, ``-rpcuser``/``-rpcpassword``, ``-regtest``/``-testnet``/``-chain=<name>``,
``-rpcwallet=<name>``, ``-rpcclienttimeout=<seconds>``, ``-stdin`` (extra arguments from stdin,
one per line).

Arguments are converted as bitcoin-cli converts them: a parameter whose declared type is not a
string (numbers, booleans, arrays, objects, amounts) is parsed as JSON; string parameters are
sent as given, so a hex string of digits stays a string. The types come from the server's own
method specs (:mod:`wattchain.rpc.methods`), so client and server agree. Unknown methods get
plain strings.

Output and exit status follow bitcoin-cli: a string result is printed raw, null prints nothing,
anything else as indented JSON; an RPC error prints ``error code: N`` / ``error message:`` to
stderr and exits with ``abs(N)``; connection and authentication failures exit 1.
"""

from __future__ import annotations

import base64
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from wattchain.consensus.params import params_for
from wattchain.rpc import jsonenc
from wattchain.rpc.auth import COOKIE_FILE
from wattchain.rpc.methods import all_methods
from wattchain.rpc.params import ArgType, Param

DEFAULT_DATADIR = "~/.wattchain"
DEFAULT_TIMEOUT = 900.0
_VALUE_OPTIONS = ("rpcconnect", "rpcport", "datadir", "rpccookiefile", "rpcuser", "rpcpassword",
                  "chain", "rpcwallet", "rpcclienttimeout", "conf")
_FLAG_OPTIONS = ("named", "regtest", "testnet", "stdin", "getinfo", "help", "version")
_STRING_TYPES = (ArgType.STR, ArgType.STR_HEX)
#: Friendly subcommands: shortcut -> the RPC method it runs (same arguments). ``status`` is
#: ``-getinfo``. None of these names is a Core method, so nothing is shadowed.
FRIENDLY = {"balance": "getbalances", "newaddress": "getnewaddress", "send": "sendtoaddress",
            "peers": "getpeerinfo", "tip": "getblockchaininfo", "mempool": "getmempoolinfo",
            "staking": "getstakinginfo"}


class CliError(Exception):
    """A client-side failure: message to print and exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CliOptions:
    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    command: str | None = None
    args: list[str] = field(default_factory=list)


def parse_command_line(argv: Sequence[str]) -> CliOptions:
    """Options up to the first non-option word, which is the command; the rest are args."""
    opts = CliOptions()
    words = list(argv)
    i = 0
    while i < len(words) and words[i].startswith("-") and len(words[i]) > 1:
        name, eq, value = words[i].lstrip("-").partition("=")
        if name in _FLAG_OPTIONS:
            if eq and value.lower() in ("0", "false", "no"):
                opts.flags.discard(name)
            else:
                opts.flags.add(name)
        elif name in _VALUE_OPTIONS:
            if not eq:
                i += 1
                if i >= len(words):
                    raise CliError(f"error: option -{name} needs a value")
                value = words[i]
            opts.values[name] = value
        else:
            raise CliError(f"Error parsing command line arguments: Invalid parameter -{name}")
        i += 1
    if i < len(words):
        opts.command = words[i]
        opts.args = words[i + 1:]
    return opts


def convert_value(param: Param | None, text: str) -> Any:
    """bitcoin-cli's RPCConvertValues for one argument."""
    if param is None or param.type in _STRING_TYPES:
        return text
    try:
        return jsonenc.loads(text)
    except ValueError:
        # Core parses "[...]"-wrapped text, so bare words like `true` work; a bare string for
        # an amount or a non-JSON word is an error, as in bitcoin-cli.
        raise CliError(f"error: Error parsing JSON: {text}") from None


def build_params(method: str, args: Sequence[str], named: bool) -> Any:
    """Positional list, or a dict for ``-named``, with values converted per the spec."""
    spec = all_methods().get(method)
    params = spec.params if spec is not None else ()
    if not named:
        return [convert_value(params[i] if i < len(params) else None, arg)
                for i, arg in enumerate(args)]
    by_name = {p.name: p for p in params}
    result: dict[str, Any] = {}
    for arg in args:
        name, eq, value = arg.partition("=")
        if not eq:
            raise CliError(f"error: No '=' in named argument '{arg}', this needs to be "
                           f"present for every argument (even if it is empty)")
        if name in result:
            raise CliError(f"error: Parameter {name} specified multiple times")
        result[name] = convert_value(by_name.get(name), value)
    return result


class RpcClient:
    """Blocking JSON-RPC over HTTP with Basic auth (stdlib only)."""

    def __init__(self, url: str, credential: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.auth = "Basic " + base64.b64encode(credential.encode()).decode()
        self.timeout = timeout

    def post(self, payload: Any) -> Any:
        body = jsonenc.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": self.auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise CliError("error: Authorization failed: Incorrect rpcuser or "
                               "rpcpassword") from None
            raw = exc.read()
            if not raw:
                raise CliError(f"error: server returned HTTP error {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"error: couldn't connect to server: {reason}\n\nMake sure the "
                           f"wattchain node is running and that you are connecting to the "
                           f"correct RPC port.") from None
        try:
            return jsonenc.loads(raw)
        except ValueError:
            raise CliError("error: couldn't parse reply from server") from None

    def call(self, method: str, params: Any) -> Any:
        return self.post({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})


def _network(opts: CliOptions) -> str:
    chosen = [n for n, flag in (("regtest", "regtest"), ("test", "testnet"))
              if flag in opts.flags]
    if "chain" in opts.values:
        chosen.append({"testnet": "test"}.get(opts.values["chain"], opts.values["chain"]))
    if len(set(chosen)) > 1:
        raise CliError("Error: Invalid combination of -regtest, -testnet and -chain.")
    return chosen[0] if chosen else "main"


def client_from_options(opts: CliOptions) -> RpcClient:
    try:
        params = params_for(_network(opts))
    except ValueError as exc:
        raise CliError(f"Error: {exc}") from None
    host = opts.values.get("rpcconnect", "127.0.0.1")
    port = opts.values.get("rpcport", str(params.rpc_port))
    if ":" in host and not host.startswith("["):
        host, _, port = host.rpartition(":")
    path = "/"
    if "rpcwallet" in opts.values:
        path = "/wallet/" + urllib.request.quote(opts.values["rpcwallet"])
    if opts.values.get("rpcpassword"):
        credential = f"{opts.values.get('rpcuser', '')}:{opts.values['rpcpassword']}"
    else:
        datadir = Path(opts.values.get("datadir", DEFAULT_DATADIR)).expanduser()
        cookie = Path(opts.values.get("rpccookiefile", datadir / COOKIE_FILE)).expanduser()
        try:
            credential = cookie.read_text().strip()
        except OSError:
            raise CliError("error: Could not locate RPC credentials. No authentication cookie "
                           "could be found, and RPC password is not set.") from None
    try:
        timeout = float(opts.values.get("rpcclienttimeout", DEFAULT_TIMEOUT)) or None
    except ValueError:
        raise CliError("error: -rpcclienttimeout must be a number") from None
    return RpcClient(f"http://{host}:{port}{path}", credential, timeout or DEFAULT_TIMEOUT)


def _print_result(result: Any, out: TextIO) -> None:
    if result is None:
        return
    if isinstance(result, str):
        out.write(result + "\n")
    else:
        out.write(jsonenc.dumps(result, indent=2) + "\n")


def _print_error(error: dict[str, Any], err: TextIO) -> int:
    code = error.get("code", -1)
    message = error.get("message", "")
    err.write(f"error code: {code}\nerror message:\n{message}\n")
    return abs(int(code)) if isinstance(code, int) and code else 1


def get_info(client: RpcClient) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """bitcoin-cli -getinfo: one batch of network, chain, wallet and staking info."""
    batch = [{"jsonrpc": "1.0", "id": i, "method": m, "params": []}
             for i, m in enumerate(("getnetworkinfo", "getblockchaininfo", "getwalletinfo",
                                    "getbalances", "getstakinginfo", "getmempoolinfo"))]
    replies = {r.get("id"): r for r in client.post(batch)}
    for i in (0, 1):
        if replies[i].get("error"):
            return None, replies[i]["error"]
    net, chain = replies[0]["result"], replies[1]["result"]
    info: dict[str, Any] = {
        "version": net["version"], "subversion": net["subversion"], "chain": chain["chain"],
        "blocks": chain["blocks"], "headers": chain["headers"],
        "verificationprogress": chain["verificationprogress"],
        "difficulty": chain["difficulty"],
        "connections": {"in": net["connections_in"], "out": net["connections_out"],
                        "total": net["connections"]},
        "relayfee": net["relayfee"], "signaturebackend": net.get("signaturebackend"),
    }
    if not replies[5].get("error"):
        info["mempool"] = {"size": replies[5]["result"]["size"],
                           "bytes": replies[5]["result"]["bytes"]}
    if not replies[2].get("error"):
        info["wallet"] = replies[2]["result"]
    if not replies[3].get("error"):
        info["balances"] = replies[3]["result"]
    if not replies[4].get("error"):
        staking = replies[4]["result"]
        info["staking"] = {k: staking[k] for k in ("enabled", "staking", "weight",
                                                   "netstakeweight", "expectedtime")}
    info["warnings"] = chain.get("warnings", "")
    return info, None


def run(argv: Sequence[str], stdin: TextIO, out: TextIO, err: TextIO) -> int:
    opts = parse_command_line(argv)
    if "help" in opts.flags or (opts.command is None and "getinfo" not in opts.flags):
        out.write(__doc__.strip() + "\n")  # type: ignore[union-attr]
        return 0 if "help" in opts.flags else 1
    client = client_from_options(opts)
    if "getinfo" in opts.flags or opts.command == "status":
        info, error = get_info(client)
        if error is not None:
            return _print_error(error, err)
        _print_result(info, out)
        return 0
    assert opts.command is not None
    command = FRIENDLY.get(opts.command, opts.command)
    args = list(opts.args)
    if "stdin" in opts.flags:
        args += [line.rstrip("\n") for line in stdin if line.rstrip("\n")]
    reply = client.call(command, build_params(command, args, "named" in opts.flags))
    if not isinstance(reply, dict):
        raise CliError("error: unexpected reply from server")
    if reply.get("error"):
        return _print_error(reply["error"], err)
    _print_result(reply.get("result"), out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdin, sys.stdout, sys.stderr)
    except CliError as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
