"""Mempool policy: the knobs (:class:`MempoolPolicy`) and the standardness rules.

Policy is what a node *relays*, not what a block may contain: every rule here is stricter than
consensus, so a transaction refused here may still be valid in a block. The rules and reject
reasons follow Bitcoin Core's ``policy/policy.cpp`` (IsStandardTx, AreInputsStandard,
IsWitnessStandard, GetDustThreshold) with Core's default numbers; Taproot is not implemented,
so witness v1+ *outputs* are standard (future soft-fork space, as in Core) while *spending*
them is refused by the script flags.

Fee rates are integers in base units per 1000 virtual bytes (Core's sat/kvB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wattchain.consensus.coins import Coin
from wattchain.contracts import (ContractFormatError, ContractOutput, ContractParams,
                                 contract_outputs, is_contract_script, sender_account)
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.opcodes import Op
from wattchain.script.script import (ScriptParseError, count_sigops, is_push_only,
                                     is_unspendable, iter_script, witness_program)
from wattchain.script.standard import TxOutType, is_standard_script_pubkey, solve

#: Highest transaction version relayed (Core's TX_MAX_STANDARD_VERSION before TRUC/v3).
MAX_STANDARD_VERSION = 2
#: Largest standard scriptSig: a 15-of-15 P2SH multisig with compressed keys fits (Core).
MAX_STANDARD_SCRIPTSIG_SIZE = 1650
#: Smallest standard non-witness size (Core: 65 bytes, so a tx can't look like a 64-byte
#: merkle inner node, CVE-2017-12842).
MIN_STANDARD_TX_NONWITNESS_SIZE = 65
#: Sigops a P2SH redeem script may contain (Core's MAX_P2SH_SIGOPS).
MAX_P2SH_SIGOPS = 15
#: P2WSH limits from Core's policy.h.
MAX_STANDARD_P2WSH_SCRIPT_SIZE = 3600
MAX_STANDARD_P2WSH_STACK_ITEMS = 100
MAX_STANDARD_P2WSH_STACK_ITEM_SIZE = 80


class MempoolRejectError(Exception):
    """A transaction was refused by the mempool.

    ``reason`` is Bitcoin Core's reject string (what ``testmempoolaccept`` reports as
    ``reject-reason``, e.g. ``"insufficient fee"``, ``"dust"``); ``detail`` says why in words.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class MempoolPolicy:
    """Every policy number of one mempool (Core's defaults; regtest tests shrink some)."""

    #: Minimum fee rate to relay or accept (Core's -minrelaytxfee, sat/kvB).
    min_relay_fee_rate: int = 1000
    #: Fee rate a replacement or an evicting tx must add on top (Core's -incrementalrelayfee).
    incremental_relay_fee_rate: int = 1000
    #: Fee rate that defines dust (Core's -dustrelayfee).
    dust_relay_fee_rate: int = 3000
    #: Largest standard transaction weight (Core's MAX_STANDARD_TX_WEIGHT).
    max_tx_weight: int = 400_000
    #: Largest standard sigop cost per transaction (Core: block limit / 5).
    max_tx_sigops_cost: int = 16_000
    #: Ancestor/descendant package limits: counts include the tx itself; sizes in vbytes.
    max_ancestors: int = 25
    max_ancestor_size: int = 101_000
    max_descendants: int = 25
    max_descendant_size: int = 101_000
    #: Memory cap (estimated bytes, see :func:`entry_usage`), Core's -maxmempool (300 MB).
    max_bytes: int = 300_000_000
    #: Transactions older than this are dropped (Core's -mempoolexpiry, 336 hours).
    expiry_seconds: int = 336 * 3600
    #: Orphan pool bound and lifetime (Core: 100 orphans, 20 minutes).
    max_orphans: int = 100
    orphan_expiry_seconds: int = 20 * 60
    #: BIP125 rule 5: at most this many transactions evicted by one replacement.
    max_replacements: int = 100
    #: Replace any conflicting tx, signalling or not (Core's -mempoolfullrbf).
    full_rbf: bool = False
    #: Largest OP_RETURN output script (Core's -datacarriersize before v30); None = no limit.
    max_datacarrier_bytes: int | None = 83
    #: Relay bare multisig outputs (Core's -permitbaremultisig).
    permit_bare_multisig: bool = True
    #: Half-life of the rolling minimum fee raised by evictions (Core: 12 hours).
    rolling_fee_halflife: int = 12 * 3600
    #: Lowest gas price relayed for contract outputs (Qtum's -mingasprice default: 40).
    min_gas_price: int = 40


# ------------------------------------------------------------------------------ fee rates
def fee_for(rate: int, vsize: int) -> int:
    """Core's CFeeRate::GetFee: ``rate`` per 1000 vB times ``vsize``, truncated, but at least 1
    base unit for a positive rate (so a non-zero rate never means "free")."""
    fee = rate * vsize // 1000
    if fee == 0 and vsize and rate > 0:
        return 1
    return fee


def fee_rate(fee: int, vsize: int) -> int:
    """Fee rate of ``fee`` over ``vsize`` vbytes, in base units per 1000 vB (truncated)."""
    return fee * 1000 // vsize if vsize else 0


# ------------------------------------------------------------------------------ dust
def dust_threshold(out: TxOut, dust_relay_fee_rate: int) -> int:
    """Core's GetDustThreshold: the value below which spending ``out`` would cost more than
    a third of it at the dust relay fee rate. Unspendable outputs are never dust."""
    if is_unspendable(out.script_pubkey):
        return 0
    size = len(out.serialize())
    if witness_program(out.script_pubkey) is not None:
        size += 32 + 4 + 1 + 107 // 4 + 4  # outpoint, empty scriptSig, discounted witness
    else:
        size += 32 + 4 + 1 + 107 + 4  # outpoint, P2PKH scriptSig, sequence
    return fee_for(dust_relay_fee_rate, size)


def is_dust(out: TxOut, dust_relay_fee_rate: int) -> bool:
    return out.value < dust_threshold(out, dust_relay_fee_rate)


# ------------------------------------------------------------------------------ IsStandardTx
def check_standard_tx(tx: Transaction, policy: MempoolPolicy) -> None:
    """Core's IsStandardTx (raises :class:`MempoolRejectError` with Core's reason)."""
    if not 1 <= tx.version <= MAX_STANDARD_VERSION:
        raise MempoolRejectError("version", f"version {tx.version} is not standard")
    if tx.weight > policy.max_tx_weight:
        raise MempoolRejectError("tx-size", f"weight {tx.weight} > {policy.max_tx_weight}")
    for index, txin in enumerate(tx.inputs):
        if len(txin.script_sig) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise MempoolRejectError("scriptsig-size", f"input {index}")
        if not is_push_only(txin.script_sig):
            raise MempoolRejectError("scriptsig-not-pushonly", f"input {index}")
    data_outputs = 0
    for index, out in enumerate(tx.outputs):
        if is_contract_script(out.script_pubkey):
            continue  # standard; parsed and priced by check_contract_policy
        if not is_standard_script_pubkey(out.script_pubkey,
                                         max_datacarrier_bytes=policy.max_datacarrier_bytes,
                                         permit_bare_multisig=True):
            raise MempoolRejectError("scriptpubkey", f"output {index} is not standard")
        kind, _ = solve(out.script_pubkey)
        if kind is TxOutType.NULL_DATA:
            data_outputs += 1
        elif kind is TxOutType.MULTISIG and not policy.permit_bare_multisig:
            raise MempoolRejectError("bare-multisig", f"output {index}")
        elif is_dust(out, policy.dust_relay_fee_rate):
            raise MempoolRejectError(
                "dust", f"output {index} value {out.value} < "
                        f"{dust_threshold(out, policy.dust_relay_fee_rate)}")
    if data_outputs > 1:
        raise MempoolRejectError("multi-op-return", "more than one OP_RETURN output")
    if tx.base_size < MIN_STANDARD_TX_NONWITNESS_SIZE:
        raise MempoolRejectError("tx-size-small", f"non-witness size {tx.base_size}")


# ------------------------------------------------------------------------------ contracts
def check_contract_policy(tx: Transaction, policy: MempoolPolicy,
                          params: ContractParams) -> list[tuple[int, ContractOutput]]:
    """Contract outputs must parse under consensus (the parser's reason otherwise) and
    offer at least the policy's gas price. Returns them for the fee and sender checks."""
    try:
        found = contract_outputs(tx, params)
    except ContractFormatError as exc:
        raise MempoolRejectError(exc.reason, str(exc)) from None
    for index, output in found:
        if output.gas_price < policy.min_gas_price:
            raise MempoolRejectError("contract-gas-price-too-low",
                                     f"output {index}: {output.gas_price} < "
                                     f"{policy.min_gas_price}")
    return found


def check_contract_sender(coins: Sequence[Coin]) -> None:
    """The coin spent by input 0 must own the calls (a key-hash script)."""
    try:
        sender_account(coins[0].output.script_pubkey)
    except ContractFormatError as exc:
        raise MempoolRejectError(exc.reason, str(exc)) from None


# ------------------------------------------------------------------------------ inputs
def _last_push(script_sig: bytes) -> bytes | None:
    """The last data push of a push-only scriptSig (the P2SH redeem script), or None."""
    data: bytes | None = None
    try:
        for op in iter_script(script_sig):
            if op.opcode > Op.OP_16:
                return None
            data = op.data
    except ScriptParseError:
        return None
    return data


def check_standard_inputs(tx: Transaction, coins: Sequence[Coin]) -> None:
    """Core's AreInputsStandard and IsWitnessStandard for the coins ``tx`` spends.

    Inputs must spend a known template (not non-standard, not a witness version we cannot
    validate); a P2SH redeem script may hold at most 15 sigops; P2WSH witness scripts and stacks
    are size-bounded.
    """
    for index, (txin, coin) in enumerate(zip(tx.inputs, coins)):
        kind, _ = solve(coin.script_pubkey)
        if kind in (TxOutType.NONSTANDARD, TxOutType.WITNESS_UNKNOWN):
            raise MempoolRejectError("bad-txns-nonstandard-inputs",
                                     f"input {index} spends a {kind.value} output")
        redeem: bytes | None = None
        if kind is TxOutType.SCRIPTHASH:
            redeem = _last_push(txin.script_sig)
            if redeem is None:
                raise MempoolRejectError("bad-txns-nonstandard-inputs",
                                         f"input {index}: no P2SH redeem script")
            if count_sigops(redeem, accurate=True) > MAX_P2SH_SIGOPS:
                raise MempoolRejectError("bad-txns-nonstandard-inputs",
                                         f"input {index}: redeem script has too many sigops")
        if not txin.witness:
            continue
        program = witness_program(redeem if redeem is not None else coin.script_pubkey)
        if program is None:
            raise MempoolRejectError("bad-witness-nonstandard",
                                     f"input {index}: witness on a non-witness spend")
        version, data = program
        if version == 0 and len(data) == 32:
            if len(txin.witness[-1]) > MAX_STANDARD_P2WSH_SCRIPT_SIZE:
                raise MempoolRejectError("bad-witness-nonstandard",
                                         f"input {index}: witness script too large")
            items = txin.witness[:-1]
            if len(items) > MAX_STANDARD_P2WSH_STACK_ITEMS or any(
                    len(item) > MAX_STANDARD_P2WSH_STACK_ITEM_SIZE for item in items):
                raise MempoolRejectError("bad-witness-nonstandard",
                                         f"input {index}: witness stack too large")


def signals_rbf(tx: Transaction) -> bool:
    """BIP125 opt-in: some input's sequence is below 0xfffffffe."""
    return any(txin.sequence < 0xFFFFFFFE for txin in tx.inputs)


__all__ = [
    "MempoolPolicy", "MempoolRejectError", "check_contract_policy", "check_contract_sender", "fee_for", "fee_rate", "dust_threshold", "is_dust",
    "check_standard_tx", "check_standard_inputs", "signals_rbf",
]
