"""Spending from the wallet: funded transactions, sendtoaddress/sendmany, signing, and the
wallet's PSBT calls (walletcreatefundedpsbt, walletprocesspsbt) plus the stateless ones
(combinepsbt, finalizepsbt, decodepsbt).

A mixin of :class:`~wattchain.wallet.wallet.Wallet`; selection and pricing live in
:mod:`.spend`, PSBT roles in :mod:`.psbt_roles`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.rpc.txjson import amount_to_coins
from wattchain.script.address import AddressError, AddressFormat, script_from_address
from wattchain.script.sign import sign_transaction_inputs
from wattchain.script.standard import TxOutType, solve
from wattchain.wallet.errors import InvalidAddressOrKey, InvalidParameter, WalletError
from wattchain.wallet.fees import input_weight
from wattchain.wallet.keyring import CHANGE
from wattchain.wallet.psbt import Psbt
from wattchain.wallet.psbt_json import decode_psbt
from wattchain.wallet.psbt_roles import (combine_psbts, extract_transaction, finalize_psbt,
                                         sign_psbt)
from wattchain.wallet.spend import FundedTransaction, SpendableCoin, fund_transaction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.wallet.keyring import KeyRing
    from wattchain.wallet.ledger import Ledger

#: outputs: {address: amount} or [(address, amount), ...], amounts in base units.
Outputs = Mapping[str, int] | Sequence[tuple[str, int]]


@dataclass(frozen=True)
class CreatedTransaction:
    """create_transaction's result: the (signed unless asked otherwise) tx and its fee."""

    tx: Transaction
    fee: int
    change_index: int
    complete: bool
    funded: FundedTransaction


def parse_outputs(outputs: Outputs, fmt: AddressFormat) -> list[TxOut]:
    pairs = list(outputs.items()) if isinstance(outputs, Mapping) else list(outputs)
    seen: set[str] = set()
    result = []
    for address, amount in pairs:
        if address in seen:
            raise InvalidParameter(f"Invalid parameter, duplicated address: {address}")
        seen.add(address)
        result.append(TxOut(int(amount), script_for_address(address, fmt)))
    return result


def script_for_address(address: str, fmt: AddressFormat) -> bytes:
    try:
        return script_from_address(address, fmt)
    except (AddressError, ValueError) as exc:
        raise InvalidAddressOrKey(f"Invalid address: {address} ({exc})") from None


class Spending:
    """Mixin: expects ``keyring``, ``ledger``, ``params``, ``rng`` and the lock checks."""

    keyring: "KeyRing"
    ledger: "Ledger"
    rng: random.Random
    locked_coins: set[OutPoint]

    if TYPE_CHECKING:  # provided by Wallet / Addresses (stubs would shadow them)
        fmt: AddressFormat

        def require_unlocked(self) -> None: ...
        def new_change_script(self) -> bytes: ...
        def transaction_added(self, tx: Transaction) -> bool: ...

    # ------------------------------------------------------------------ funding
    def _spendable_coins(self, include_watching: bool) -> list[SpendableCoin]:
        coins = []
        for coin in self.ledger.coins():
            if coin.outpoint in self.locked_coins or not coin.trusted:
                continue
            if not (coin.spendable or (include_watching and coin.solvable)):
                continue
            info = self.keyring.scripts[coin.output.script_pubkey]
            weight = input_weight(coin.output.script_pubkey, info.witness_script,
                                  len(info.pubkey) if info.pubkey else 33)
            if weight is not None:
                coins.append(SpendableCoin(coin.outpoint, coin.output, weight))
        return coins

    def fund(self, outputs: Outputs, fee_rate: int, *, subtract_fee_from: Iterable[Any] = (),
             change_address: str | None = None, include_watching: bool = False,
             rbf: bool = True) -> FundedTransaction:
        """Select inputs and add change (unsigned). ``subtract_fee_from`` holds output indexes
        or addresses; ``fee_rate`` is base units per 1000 vbytes."""
        txouts = parse_outputs(outputs, self.fmt)
        addresses = [a for a, _ in (outputs.items() if isinstance(outputs, Mapping)
                                    else outputs)]
        sffo = []
        for item in subtract_fee_from:
            if isinstance(item, str):
                if item not in addresses:
                    raise InvalidParameter(
                        f"Invalid parameter 'subtract fee from output', address {item} "
                        "is not among the outputs")
                sffo.append(addresses.index(item))
            else:
                sffo.append(int(item))
        change_script = (script_for_address(change_address, self.fmt)
                         if change_address is not None else None)
        coins = self._spendable_coins(include_watching)
        planned_change = change_script or self._peek_change_script()
        funded = fund_transaction(txouts, coins, fee_rate, planned_change, self.rng,
                                  subtract_fee_from=sffo, locktime=max(0, self.ledger.tip_height),
                                  rbf=rbf)
        if funded.change_index >= 0 and change_script is None:
            # Only now hand out (persist) the change address that was priced in.
            self.new_change_script()
        return funded

    def _peek_change_script(self) -> bytes:
        hd = self.keyring.hd
        if hd is None:
            raise WalletError("Can't generate a change-address key. No HD seed in wallet")
        return self.keyring.derive_hd(CHANGE, hd.issued[CHANGE]).script_pubkey

    def create_transaction(self, outputs: Outputs, fee_rate: int, *,
                           subtract_fee_from: Iterable[Any] = (),
                           change_address: str | None = None, lock_unspents: bool = False,
                           sign: bool = True, rbf: bool = True) -> CreatedTransaction:
        """A funded transaction paying ``outputs``, signed with the wallet's keys (the caller
        submits it). RBF is signalled (sequence 0xfffffffd) unless ``rbf=False``."""
        if sign:
            self.require_unlocked()
        funded = self.fund(outputs, fee_rate, subtract_fee_from=subtract_fee_from,
                           change_address=change_address, rbf=rbf)
        tx, complete = funded.tx, False
        if sign:
            tx, results = sign_transaction_inputs(funded.tx, funded.spent_outputs, self.keyring)
            complete = all(r.complete for r in results)
            if not complete:
                raise WalletError("Signing transaction failed")
        if lock_unspents:
            self.locked_coins.update(txin.prevout for txin in tx.inputs)
        return CreatedTransaction(tx, funded.fee, funded.change_index, complete, funded)

    def send_many(self, amounts: Outputs, fee_rate: int, *,
                  subtract_fee_from: Iterable[Any] = ()) -> Transaction:
        """sendmany: a signed transaction, already recorded in the wallet (its inputs count as
        spent and its change as ours); the caller submits it to the mempool / peers."""
        created = self.create_transaction(amounts, fee_rate,
                                          subtract_fee_from=subtract_fee_from)
        self.transaction_added(created.tx)
        return created.tx

    def send_to_address(self, address: str, amount: int, fee_rate: int, *,
                        subtract_fee_from_amount: bool = False) -> Transaction:
        return self.send_many([(address, amount)], fee_rate,
                              subtract_fee_from=[0] if subtract_fee_from_amount else [])

    def sign_raw_transaction(self, tx: Transaction,
                             prevouts: Mapping[OutPoint, TxOut] | None = None
                             ) -> tuple[Transaction, bool]:
        """signrawtransactionwithwallet: sign what the wallet can; (tx, complete)."""
        self.require_unlocked()
        spent = []
        for txin in tx.inputs:
            out = (prevouts or {}).get(txin.prevout) or self._known_output(txin.prevout)
            if out is None:
                raise InvalidParameter(f"Input not found or already spent: {txin.prevout}")
            spent.append(out)
        signed, results = sign_transaction_inputs(tx, spent, self.keyring)
        return signed, all(r.complete for r in results)

    def _known_output(self, outpoint: OutPoint) -> TxOut | None:
        wtx = self.ledger.txs.get(outpoint.txid)
        if wtx is None or outpoint.index >= len(wtx.tx.outputs):
            return None
        return wtx.tx.outputs[outpoint.index]

    # ------------------------------------------------------------------ PSBT
    def update_psbt(self, psbt: Psbt, bip32derivs: bool = True) -> None:
        """Updater role: UTXOs, scripts and key origins the wallet knows."""
        for index, (txin, pin) in enumerate(zip(psbt.tx.inputs, psbt.inputs)):
            wtx = self.ledger.txs.get(txin.prevout.txid)
            if wtx is not None and txin.prevout.index < len(wtx.tx.outputs):
                if pin.non_witness_utxo is None:
                    pin.non_witness_utxo = wtx.tx
                if pin.witness_utxo is None:
                    pin.witness_utxo = wtx.tx.outputs[txin.prevout.index]
            spent = psbt.spent_output(index)
            if spent is None:
                continue
            info = self.keyring.scripts.get(spent.script_pubkey)
            if info is None:
                continue
            if info.witness_script is not None and pin.witness_script is None:
                pin.witness_script = info.witness_script
            if bip32derivs:
                self._add_origins(pin.bip32_derivs, info)
        for out, pout in zip(psbt.tx.outputs, psbt.outputs):
            info = self.keyring.scripts.get(out.script_pubkey)
            if info is None:
                continue
            if info.witness_script is not None and pout.witness_script is None:
                pout.witness_script = info.witness_script
            if bip32derivs:
                self._add_origins(pout.bip32_derivs, info)

    def _add_origins(self, target: dict[bytes, Any], info: Any) -> None:
        keys = [info.pubkey] if info.pubkey is not None else []
        if info.witness_script is not None:
            kind, solutions = solve(info.witness_script)
            keys = solutions[1:-1] if kind is TxOutType.MULTISIG else []
        for pubkey in keys:
            origin = self.keyring.key_origin(pubkey)
            if origin is not None:
                target[pubkey] = (origin[0], tuple(origin[1]))

    def wallet_create_funded_psbt(self, outputs: Outputs, fee_rate: int, *,
                                  subtract_fee_from: Iterable[Any] = (),
                                  change_address: str | None = None,
                                  include_watching: bool = True, lock_unspents: bool = False,
                                  rbf: bool = True, bip32derivs: bool = True) -> dict[str, Any]:
        """walletcreatefundedpsbt: {"psbt": base64, "fee": coins, "changepos": n}. Watch-only
        but solvable coins (e.g. a multisig this wallet only co-signs) may fund it."""
        funded = self.fund(outputs, fee_rate, subtract_fee_from=subtract_fee_from,
                           change_address=change_address, include_watching=include_watching,
                           rbf=rbf)
        psbt = Psbt.from_unsigned(funded.tx)
        self.update_psbt(psbt, bip32derivs)
        if lock_unspents:
            self.locked_coins.update(txin.prevout for txin in funded.tx.inputs)
        return {"psbt": psbt.to_base64(), "fee": amount_to_coins(funded.fee),
                "changepos": funded.change_index}

    def wallet_process_psbt(self, psbt_base64: str, sign: bool = True,
                            sighash_type: int | None = None, bip32derivs: bool = True,
                            finalize: bool = True) -> dict[str, Any]:
        """walletprocesspsbt: update with wallet data, sign what we can, finalize complete
        inputs. {"psbt": base64, "complete": bool} (+ "hex" when complete, as Core 26+)."""
        psbt = Psbt.from_base64(psbt_base64)
        if sign:
            self.require_unlocked()
        self.update_psbt(psbt, bip32derivs)
        complete = sign_psbt(psbt, self.keyring if sign else None, sighash_type=sighash_type,
                             finalize=finalize)
        result: dict[str, Any] = {"psbt": psbt.to_base64(), "complete": complete}
        if complete and finalize:
            result["hex"] = extract_transaction(psbt).to_hex()
        return result

    @staticmethod
    def combine_psbt(psbts: Sequence[str]) -> str:
        return combine_psbts([Psbt.from_base64(p) for p in psbts]).to_base64()

    @staticmethod
    def finalize_psbt(psbt_base64: str, extract: bool = True) -> dict[str, Any]:
        """finalizepsbt: {"psbt"} while incomplete, {"hex", "complete": True} once extracted."""
        psbt = Psbt.from_base64(psbt_base64)
        complete = finalize_psbt(psbt)
        if complete and extract:
            return {"hex": extract_transaction(psbt).to_hex(), "complete": True}
        return {"psbt": psbt.to_base64(), "complete": complete}

    def decode_psbt(self, psbt_base64: str) -> dict[str, Any]:
        return decode_psbt(Psbt.from_base64(psbt_base64), self.fmt)
