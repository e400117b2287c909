"""Node configuration (Core-style file + command line) and the datadir lock."""

from __future__ import annotations

import pytest

from wattchain.consensus.params import regtest_params
from wattchain.core.tx import COIN
from wattchain.node.config import CONFIG_FILENAME, ConfigError, load_config, parse_config_text
from wattchain.node.datadir_lock import DataDirLock, DataDirLockedError
from wattchain.script.address import address_from_script
from wattchain.script.standard import p2wpkh


def test_sections_lists_and_precedence(tmp_path) -> None:
    address = address_from_script(p2wpkh(bytes(20)), regtest_params().address_format)
    (tmp_path / CONFIG_FILENAME).write_text(
        "# comment\nnetwork=regtest\nrpcport=1000\nstaking=0\n"
        "[main]\nrpcport=2000\n"
        f"[regtest]\nport=3000\naddnode=127.0.0.1:1\naddnode=127.0.0.1:2\n"
        f"premine={address}:12.5\npremine=51:1\n")
    config = load_config(tmp_path)
    assert config.network == "regtest" and config.rpc_port == 1000 and config.p2p_port == 3000
    assert config.staking is False and config.addnode == ("127.0.0.1:1", "127.0.0.1:2")
    params = config.chain_params()
    assert params.premine == ((p2wpkh(bytes(20)), 1_250_000_000), (bytes.fromhex("51"), COIN))
    assert params.genesis_hash != load_config(tmp_path, overrides={"premine": []}) \
        .chain_params().genesis_hash
    overridden = load_config(tmp_path, overrides={"rpcport": 9, "addnode": ["h:5"],
                                                  "staking": True})
    assert overridden.rpc_port == 9 and overridden.addnode == ("h:5",) and overridden.staking
    main = load_config(tmp_path, network="main")  # the [main] section, not [regtest]
    assert main.rpc_port == 2000 and main.p2p_port == main.chain_params().default_port


@pytest.mark.parametrize("text, message", [
    ("nosuchoption=1\n", "unknown option"),
    ("[moon]\n", "unknown section"),
    ("just words\n", "expected key=value"),
    ("staking=maybe\n", "expected 1 or 0"),
    ("rpcport=eleven\n", "expected an integer"),
    ("network=main\npremine=51:1\n", "only allowed on regtest"),
    ("network=regtest\npremine=zz:1\n", "neither an address nor script hex"),
    ("network=regtest\npremine=51:-1\n", "must be positive"),
    ("network=regtest\nposlimit=nothex\n", "expected hex"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, message) -> None:
    (tmp_path / CONFIG_FILENAME).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_parse_reports_line_numbers() -> None:
    with pytest.raises(ConfigError, match="cfg:3"):
        parse_config_text("# a comment\n\nbogus\n", "cfg")


def test_second_lock_on_a_datadir_is_refused(tmp_path) -> None:
    with DataDirLock(tmp_path):
        with pytest.raises(DataDirLockedError, match="already running"):
            DataDirLock(tmp_path).acquire()
    with DataDirLock(tmp_path):  # released: can be taken again
        pass
