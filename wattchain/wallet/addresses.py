"""Addresses and keys of the wallet: HD receive/change addresses, m-of-n P2WSH multisig
(createmultisig / addmultisigaddress), watch-only imports, WIF import/export, getaddressinfo.

A mixin of :class:`~wattchain.wallet.wallet.Wallet`: every change is persisted in one batch
together with the topped-up lookahead and the HD counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wattchain.core.keys import public_key
from wattchain.node.kvstore import Batch
from wattchain.script.address import (AddressError, AddressFormat, address_from_script,
                                      decode_wif, encode_wif)
from wattchain.script.standard import TemplateError, is_compressed_pubkey, solve
from wattchain.wallet import store
from wattchain.wallet.crypto import seal
from wattchain.wallet.errors import InvalidAddressOrKey, InvalidParameter, WalletError
from wattchain.wallet.hd import format_path
from wattchain.wallet.keyring import (CHANGE, RECEIVE, ScriptInfo, imported_key_scripts,
                                      multisig_script, p2wsh_of)
from wattchain.wallet.spending import script_for_address

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.chainstate import Chainstate
    from wattchain.wallet.keyring import KeyRing


class Addresses:
    """Mixin: expects ``keyring``, ``db``, ``chainstate``, ``fmt``, the lock state and
    ``rescan`` from the wallet."""

    keyring: "KeyRing"
    db: store.WalletDB
    chainstate: "Chainstate | None"
    _master_key: bytes | None

    if TYPE_CHECKING:  # provided by Wallet / ChainTracking (stubs would shadow them)
        fmt: AddressFormat
        is_encrypted: bool

        def require_unlocked(self) -> None: ...
        def _write_state(self, batch: Batch) -> None: ...
        def rescan(self, chainstate: "Chainstate", start_height: int = 0) -> int: ...
    def _persist_scripts(self, infos: Iterable[ScriptInfo]) -> None:
        batch = Batch()
        for info in infos:
            store.put_script(batch, info.script_pubkey, info.to_record())
        for info in self.keyring.top_up():
            store.put_script(batch, info.script_pubkey, info.to_record())
        self._write_state(batch)
        self.db.commit(batch)

    def _next_address(self, chain: int, label: str) -> ScriptInfo:
        if self.keyring.hd is None:
            raise WalletError("Error: This wallet has no available keys")
        info = self.keyring.next_hd(chain)
        if label:
            info = ScriptInfo(info.script_pubkey, info.kind, info.pubkey, info.path,
                              info.witness_script, label)
            self.keyring.add_script(info)
        self._persist_scripts([info])
        return info

    def get_new_address(self, label: str = "") -> str:
        """getnewaddress: the next unused receiving address (bech32 P2WPKH)."""
        info = self._next_address(RECEIVE, label)
        return self._address(info.script_pubkey)

    def get_raw_change_address(self) -> str:
        return self._address(self._next_address(CHANGE, "").script_pubkey)

    def new_change_script(self) -> bytes:
        return self._next_address(CHANGE, "").script_pubkey

    def _address(self, script: bytes) -> str:
        address = address_from_script(script, self.fmt)
        assert address is not None
        return address

    def _pubkey_arg(self, key: str) -> bytes:
        """A hex public key, or an address of ours whose key we know (addmultisigaddress)."""
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raw = b""
        if raw:
            if len(raw) not in (33, 65):
                raise InvalidAddressOrKey(f"Invalid public key: {key}")
            return raw
        script = script_for_address(key, self.fmt)
        info = self.keyring.scripts.get(script)
        if info is None or info.pubkey is None:
            raise InvalidAddressOrKey(f"{key} does not refer to a key")
        return info.pubkey

    def create_multisig(self, nrequired: int, keys: list[str], sort: bool = False
                        ) -> dict[str, str]:
        """createmultisig (P2WSH): address and witness script; nothing is stored."""
        witness_script = self._multisig_witness_script(nrequired, keys, sort)
        return {"address": self._address(p2wsh_of(witness_script)),
                "redeemScript": witness_script.hex()}

    def _multisig_witness_script(self, nrequired: int, keys: list[str], sort: bool) -> bytes:
        pubkeys = [self._pubkey_arg(k) for k in keys]
        if not 1 <= nrequired <= len(pubkeys):
            raise InvalidParameter(
                f"not enough keys supplied (got {len(pubkeys)} keys, but need at least "
                f"{nrequired} to redeem)" if nrequired > len(pubkeys)
                else "a multisignature address must require at least one key to redeem")
        if any(not is_compressed_pubkey(k) for k in pubkeys):
            raise InvalidAddressOrKey("Compressed key required for P2WSH multisig")
        try:
            return multisig_script(nrequired, pubkeys, sort)
        except TemplateError as exc:
            raise InvalidParameter(str(exc)) from None

    def add_multisig_address(self, nrequired: int, keys: list[str], label: str = "",
                             sort: bool = False) -> dict[str, str]:
        """addmultisigaddress (P2WSH, keys in the given order unless ``sort``): the wallet
        follows the address; it is spendable alone only if it holds ``nrequired`` keys."""
        witness_script = self._multisig_witness_script(nrequired, keys, sort)
        script = p2wsh_of(witness_script)
        info = ScriptInfo(script, "multisig", witness_script=witness_script, label=label)
        self.keyring.add_script(info)
        self._persist_scripts([info])
        self._rescan_if_attached()
        return {"address": self._address(script), "redeemScript": witness_script.hex()}

    def import_address(self, address_or_script: str, label: str = "",
                       rescan: bool = True) -> None:
        """importaddress: follow an address (or hex script) as watch-only."""
        try:
            script = script_for_address(address_or_script, self.fmt)
        except InvalidAddressOrKey:
            try:
                script = bytes.fromhex(address_or_script)
            except ValueError:
                raise InvalidAddressOrKey("Invalid Bitcoin address or script") from None
        if script in self.keyring.scripts and self.keyring.scripts[script].kind != "watchonly":
            raise WalletError("The wallet already contains the private key for this address "
                              "or script")
        info = ScriptInfo(script, "watchonly", label=label)
        self.keyring.add_script(info)
        self._persist_scripts([info])
        if rescan:
            self._rescan_if_attached()

    def import_privkey(self, wif: str, label: str = "", rescan: bool = True) -> str:
        """importprivkey: returns the key's P2WPKH (or P2PKH if uncompressed) address."""
        self.require_unlocked()
        try:
            secret, compressed = decode_wif(wif, self.fmt)
        except (AddressError, ValueError):
            raise InvalidAddressOrKey("Invalid private key encoding") from None
        pubkey = public_key(secret, compressed)
        name = store.secret_key_for_pubkey(pubkey)
        batch = Batch()
        if self.is_encrypted:
            assert self._master_key is not None
            store.put_secret(batch, name, seal(self._master_key, secret, name), True)
        else:
            store.put_secret(batch, name, secret, False)
        infos = [ScriptInfo(s, "imported", pubkey, label=label)
                 for s in imported_key_scripts(pubkey)]
        for info in infos:
            self.keyring.add_script(info)
            store.put_script(batch, info.script_pubkey, info.to_record())
        self._write_state(batch)
        self.db.commit(batch)
        self.keyring.add_secret(pubkey, secret)
        if rescan:
            self._rescan_if_attached()
        return self._address(infos[0].script_pubkey)

    def dump_privkey(self, address: str) -> str:
        """dumpprivkey: the WIF of one of our single-key addresses (needs unlocking)."""
        self.require_unlocked()
        info = self.keyring.scripts.get(script_for_address(address, self.fmt))
        if info is None or info.pubkey is None or info.kind not in ("hd", "imported"):
            raise WalletError(f"Private key for address {address} is not known")
        secret = self.keyring.private_key_for(info.pubkey)
        if secret is None:
            raise WalletError(f"Private key for address {address} is not known")
        return encode_wif(secret, self.fmt, compressed=len(info.pubkey) == 33)

    def get_address_info(self, address: str) -> dict[str, Any]:
        """getaddressinfo's main fields."""
        script = script_for_address(address, self.fmt)
        info = self.keyring.scripts.get(script)
        result: dict[str, Any] = {"address": address, "scriptPubKey": script.hex(),
                                  "ismine": info is not None and self.keyring.is_spendable(
                                      script),
                                  "solvable": self.keyring.is_solvable(script),
                                  "iswatchonly": info is not None and info.kind == "watchonly",
                                  "iswitness": script[0] == 0,
                                  "labels": [info.label] if info is not None else []}
        if info is not None and info.pubkey is not None:
            result["pubkey"] = info.pubkey.hex()
            origin = self.keyring.key_origin(info.pubkey)
            if origin is not None:
                result["hdkeypath"] = format_path(origin[1])
                result["hdmasterfingerprint"] = origin[0].hex()
        if info is not None and info.witness_script is not None:
            kind, solutions = solve(info.witness_script)
            result["script"] = "multisig"
            result["hex"] = info.witness_script.hex()
            result["sigsrequired"] = solutions[0][0]
            result["pubkeys"] = [k.hex() for k in solutions[1:-1]]
        return result

    def _rescan_if_attached(self) -> None:
        if self.chainstate is not None:
            self.rescan(self.chainstate, 0)
