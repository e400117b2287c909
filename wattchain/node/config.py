"""Node configuration: command-line options over a Core-style config file over defaults.

The config file is ``wattchain.conf`` in the datadir (or ``--conf FILE``), in Bitcoin Core's
format: ``key=value`` lines, ``#`` comments, repeated keys for lists (``addnode=...``), and
``[main]`` / ``[test]`` / ``[regtest]`` sections whose keys apply only to that network. Boolean
keys take ``1``/``0`` (also ``true``/``false``). Unknown keys are an error, as in Core, so a typo
does not silently fall back to a default.

Regtest only: ``poslimit=<hex target>`` overrides the easiest stake target, and
``premine=<address or script hex>:<amount in coins>`` lines give the genesis
premine (every node of one test network must list the same ones, in the same order, to share a
genesis); ``testnet up`` writes them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from wattchain.consensus.params import ChainParams, params_for
from wattchain.core.tx import COIN
from wattchain.script.address import AddressError, script_from_address

CONFIG_FILENAME = "wattchain.conf"
#: The wallet's directory inside the datadir.
WALLET_DIRNAME = "wallet"
NETWORKS = ("main", "test", "regtest")

_LIST_KEYS = {"addnode", "connect", "premine", "rpcauth"}
_BOOL_KEYS = {"staking", "wallet", "rest", "listen", "discover", "printtoconsole", "channels"}
_INT_KEYS = {"port", "rpcport", "maxconnections", "maxoutbound", "dbcache", "maxmempool",
             "channelport"}
_STR_KEYS = {"network", "bind", "rpcbind", "rpcuser", "rpcpassword", "loglevel", "logformat",
             "walletpassphrase", "poslimit"}
KNOWN_KEYS = _LIST_KEYS | _BOOL_KEYS | _INT_KEYS | _STR_KEYS


class ConfigError(ValueError):
    """A config file or option that cannot be used (the message names the line or key)."""


def parse_config_text(text: str, source: str = "config") -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values...]}}``; keys before any section are in section ``""``."""
    sections: dict[str, dict[str, list[str]]] = {"": {}}
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section not in NETWORKS:
                raise ConfigError(f"{source}:{number}: unknown section [{section}]")
            sections.setdefault(section, {})
            continue
        if "=" not in line:
            raise ConfigError(f"{source}:{number}: expected key=value, got {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{source}:{number}: unknown option {key!r}")
        sections[section].setdefault(key, []).append(value)
    return sections


def _bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"option {key}: expected 1 or 0, got {value!r}")


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"option {key}: expected an integer, got {value!r}") from None


@dataclass(frozen=True)
class NodeConfig:
    """Everything the daemon needs to start; build with :func:`load_config`."""

    network: str = "main"
    datadir: Path = Path(".")
    bind: str = "127.0.0.1"
    port: int | None = None           # None: the network's default
    rpcbind: str = "127.0.0.1"
    rpcport: int | None = None
    rpcuser: str | None = None
    rpcpassword: str | None = None
    rest: bool = False
    listen: bool = True
    discover: bool = True
    addnode: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    maxconnections: int = 40
    maxoutbound: int = 8
    dbcache: int = 64                 # MiB for the coins cache
    maxmempool: int = 300             # MB
    staking: bool = True
    wallet: bool = True
    walletpassphrase: str | None = None
    premine: tuple[str, ...] = ()
    #: Regtest only: the easiest stake target (hex). `testnet up` sets it so the premine's
    #: stake wins about one slot in one at the limit, instead of every node winning every slot
    #: (which would grow one equal-work chain per node until retargeting caught up).
    poslimit: str | None = None
    loglevel: str = "info"
    logformat: str = "text"           # or "json"
    printtoconsole: bool = True
    #: Run a payment-channel node (wattchain.channels) funded by the wallet.
    channels: bool = False
    #: Its WebSocket port (None: 9735, Lightning's; 0: any free port).
    channelport: int | None = None

    def chain_params(self) -> ChainParams:
        """The network's parameters, with the regtest premine applied."""
        if (self.premine or self.poslimit) and self.network != "regtest":
            raise ConfigError("premine= and poslimit= are only allowed on regtest")
        if self.network != "regtest":
            return params_for(self.network)
        base = params_for("regtest")
        outputs = tuple(_parse_premine(item, base) for item in self.premine)
        if outputs:
            base = replace(base, premine=outputs)
        if self.poslimit:
            try:
                limit = int(self.poslimit, 16)
            except ValueError:
                raise ConfigError(f"poslimit={self.poslimit!r}: expected hex") from None
            if not 0 < limit < 1 << 256:
                raise ConfigError("poslimit must be a positive 256-bit number")
            base = replace(base, pos_limit=limit)
        return base

    @property
    def p2p_port(self) -> int:
        return self.port if self.port is not None else self.chain_params().default_port

    @property
    def rpc_port(self) -> int:
        return self.rpcport if self.rpcport is not None else self.chain_params().rpc_port


def _parse_premine(item: str, params: ChainParams) -> tuple[bytes, int]:
    target, _, amount = item.rpartition(":")
    if not target:
        raise ConfigError(f"premine={item!r}: expected <address or script hex>:<coins>")
    try:
        value = int(Decimal(amount) * COIN)
    except InvalidOperation:
        raise ConfigError(f"premine={item!r}: bad amount {amount!r}") from None
    if value <= 0:
        raise ConfigError(f"premine={item!r}: amount must be positive")
    try:
        script = script_from_address(target, params.address_format)
    except AddressError:
        try:
            script = bytes.fromhex(target)
        except ValueError:
            raise ConfigError(f"premine={item!r}: neither an address nor script hex") from None
    return script, value


def _apply(values: dict[str, object], sections: dict[str, dict[str, list[str]]],
           section: str) -> None:
    for key, items in sections.get(section, {}).items():
        if key in _LIST_KEYS:
            values[key] = tuple(values.get(key, ())) + tuple(items)  # type: ignore[arg-type]
        elif key in _BOOL_KEYS:
            values[key] = _bool(key, items[-1])
        elif key in _INT_KEYS:
            values[key] = _int(key, items[-1])
        else:
            values[key] = items[-1]


def load_config(datadir: str | Path, *, network: str | None = None,
                conf: str | Path | None = None,
                overrides: dict[str, object] | None = None) -> NodeConfig:
    """Defaults < config file (its global part, then its network's section) < ``overrides``
    (the command line; list options given there replace the file's)."""
    datadir = Path(datadir)
    path = Path(conf) if conf is not None else datadir / CONFIG_FILENAME
    sections: dict[str, dict[str, list[str]]] = {"": {}}
    if path.exists():
        sections = parse_config_text(path.read_text(), str(path))
    elif conf is not None:
        raise ConfigError(f"config file {path} does not exist")
    values: dict[str, object] = {}
    _apply(values, sections, "")
    chosen = network or str(values.get("network", "main"))
    if chosen not in NETWORKS:
        raise ConfigError(f"unknown network {chosen!r}")
    _apply(values, sections, chosen)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in KNOWN_KEYS:
            raise ConfigError(f"unknown option {key!r}")
        values[key] = tuple(value) if key in _LIST_KEYS else value  # type: ignore[arg-type]
    values["network"] = chosen
    config = NodeConfig(datadir=datadir, **values)  # type: ignore[arg-type]
    if config.logformat not in ("text", "json"):
        raise ConfigError("logformat must be text or json")
    config.chain_params()  # validate premine lines now, with a clear message
    return config


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``wattchain node`` options (each also settable in the config file)."""
    parser.add_argument("--datadir", required=True, help="data directory (created if missing)")
    parser.add_argument("--conf", help=f"config file (default: DATADIR/{CONFIG_FILENAME})")
    parser.add_argument("--port", type=int, help="P2P port (default: the network's)")
    parser.add_argument("--bind", help="P2P listen address (default 127.0.0.1)")
    parser.add_argument("--rpcport", type=int, help="JSON-RPC port (default: the network's)")
    parser.add_argument("--rpcbind", help="JSON-RPC listen address (default 127.0.0.1)")
    parser.add_argument("--rpcuser")
    parser.add_argument("--rpcpassword")
    parser.add_argument("--addnode", action="append", metavar="HOST:PORT",
                        help="peer to keep connected (repeatable)")
    parser.add_argument("--connect", action="append", metavar="HOST:PORT",
                        help="connect only to these peers (repeatable)")
    parser.add_argument("--staking", type=int, choices=(0, 1), help="stake with the wallet")
    parser.add_argument("--wallet", type=int, choices=(0, 1), help="load the wallet")
    parser.add_argument("--rest", type=int, choices=(0, 1), help="serve the REST interface")
    parser.add_argument("--logformat", choices=("text", "json"))
    parser.add_argument("--loglevel", choices=("debug", "info", "warning", "error"))


def config_from_args(args: argparse.Namespace, network: str | None) -> NodeConfig:
    overrides: dict[str, object] = {
        "port": args.port, "bind": args.bind, "rpcport": args.rpcport, "rpcbind": args.rpcbind,
        "rpcuser": args.rpcuser, "rpcpassword": args.rpcpassword, "addnode": args.addnode,
        "connect": args.connect, "logformat": args.logformat, "loglevel": args.loglevel,
        "staking": None if args.staking is None else bool(args.staking),
        "wallet": None if args.wallet is None else bool(args.wallet),
        "rest": None if args.rest is None else bool(args.rest),
    }
    return load_config(args.datadir, network=network, conf=args.conf, overrides=overrides)


__all__ = ["CONFIG_FILENAME", "ConfigError", "NodeConfig", "add_node_arguments",
           "config_from_args", "load_config", "parse_config_text"]
