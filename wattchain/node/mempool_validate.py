"""Mempool acceptance checks (Core's MemTxAccept: PreChecks, ReplacementChecks, PolicyScriptChecks).

:func:`check_transaction_for_pool` runs every rule against the chain tip plus the pool and
returns a :class:`Candidate` describing what adding the tx would do; it never changes state,
which is what makes ``test_accept`` free and lets the mempool apply a result atomically.

Order of checks (cheap and context-free first, scripts last, as in Core): context-free
consensus -> coinbase/coinstake -> IsStandardTx -> finality -> already pooled -> conflicts and
BIP125 signalling -> inputs exist (else :class:`MissingInputs`) -> BIP68 -> consensus input
checks (maturity at tip+1, values) -> standard inputs -> sigops -> fee floors -> ancestor and
descendant limits -> BIP125 rules 2-5 -> scripts (STANDARD_FLAGS, then CONSENSUS_FLAGS to name
the failure mandatory or not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wattchain.consensus.coins import Coin
from wattchain.consensus.errors import TxValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.tx_check import check_transaction
from wattchain.consensus.tx_verify import (CONSENSUS_LOCKTIME_FLAGS, check_sequence_locks,
                                           check_tx_inputs, is_coinstake, is_final_tx,
                                           transaction_sigop_cost)
from wattchain.core.keys import verify_ecdsa
from wattchain.core.tx import OutPoint, Transaction
from wattchain.node.block_index import BlockIndexEntry, EntryChainContext
from wattchain.node.mempool_entry import MempoolEntry
from wattchain.node.mempool_graph import TxGraph
from wattchain.contracts import required_gas_fee
from wattchain.node.policy import (MempoolPolicy, MempoolRejectError, check_contract_policy,
                                   check_contract_sender, check_standard_inputs,
                                   check_standard_tx, fee_for, signals_rbf)
from wattchain.script.checker import EcdsaVerifier
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS, STANDARD_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.script import is_unspendable
from wattchain.script.sigcache import SignatureCache
from wattchain.script.sighash import PrecomputedTransactionData


class MissingInputs(Exception):
    """Some input is neither in the UTXO set nor created by a pooled tx (an orphan)."""

    def __init__(self, missing: Sequence[OutPoint]) -> None:
        self.missing = tuple(missing)
        super().__init__(f"missing inputs: {', '.join(map(str, missing))}")


class ChainView(Protocol):
    """What validation needs from the chain: the coin lookup and the tip (a Chainstate fits)."""

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        """The unspent coin at ``outpoint`` in the active chain."""

    @property
    def tip_entry(self) -> BlockIndexEntry:
        """The active chain's tip."""


class PoolCoinsView:
    """The UTXO set with the pool's outputs layered on top (Core's CCoinsViewMemPool).

    A pooled output is returned at ``next_height`` (the block that could include it) and never
    as coinbase, so maturity and BIP68 treat it like Core's MEMPOOL_HEIGHT coins. Outputs
    already spent by another pooled tx are still returned: spending them is a *conflict*,
    which the caller has handled before looking up coins.
    """

    def __init__(self, chain: ChainView, graph: TxGraph, next_height: int) -> None:
        self.chain = chain
        self.graph = graph
        self.next_height = next_height

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        entry = self.graph.entries.get(outpoint.txid)
        if entry is not None:
            outputs = entry.tx.outputs
            if outpoint.index < len(outputs) and not is_unspendable(
                    outputs[outpoint.index].script_pubkey):
                return Coin(outputs[outpoint.index], self.next_height, False)
            return None
        return self.chain.get_coin(outpoint)


@dataclass
class Candidate:
    """A transaction that passed every check, and what accepting it implies."""

    tx: Transaction
    fee: int
    sigop_cost: int
    height: int
    #: Pooled txs it directly conflicts with, and those plus all their descendants.
    conflicts: set[bytes] = field(default_factory=set)
    replaced: set[bytes] = field(default_factory=set)

    def entry(self, time: int, sequence: int) -> MempoolEntry:
        return MempoolEntry(self.tx, self.fee, time, self.height, self.sigop_cost, sequence)


def _reject(exc: TxValidationError) -> MempoolRejectError:
    return MempoolRejectError(exc.reason, exc.detail)


def check_transaction_for_pool(tx: Transaction, chain: ChainView, graph: TxGraph,
                               policy: MempoolPolicy, params: ChainParams, *,
                               min_fee_rate: int, check_fees: bool = True,
                               check_scripts: bool = True,
                               verifier: EcdsaVerifier = verify_ecdsa) -> Candidate:
    """Run every acceptance rule; raise :class:`MempoolRejectError` or :class:`MissingInputs`.

    ``min_fee_rate`` is the pool's current rolling floor (0 when not full). ``check_fees=False``
    skips the fee floors (re-adding a reorg's transactions, as Core's bypass_limits);
    ``check_scripts=False`` trusts scripts already verified under the same flags;
    ``verifier`` checks each ECDSA signature (e.g. the compiled core, or a caching wrapper).
    """
    try:
        check_transaction(tx, params.max_money, params.max_block_weight)
    except TxValidationError as exc:
        raise _reject(exc) from None
    if tx.is_coinbase():
        raise MempoolRejectError("coinbase", "coinbase as an individual transaction")
    if is_coinstake(tx):
        raise MempoolRejectError("coinstake", "coinstake as an individual transaction")
    check_standard_tx(tx, policy)
    contract_outs = check_contract_policy(tx, policy, params.contracts)
    tip = chain.tip_entry
    next_height = tip.height + 1
    if not is_final_tx(tx, next_height, tip.median_time_past()):
        raise MempoolRejectError("non-final", "non-final transaction")
    txid = tx.txid
    if txid in graph.entries:
        if graph.entries[txid].wtxid == tx.wtxid:
            raise MempoolRejectError("txn-already-in-mempool")
        raise MempoolRejectError("txn-same-nonwitness-data-in-mempool")

    conflicts: set[bytes] = set()
    for txin in tx.inputs:
        spender = graph.spenders.get(txin.prevout)
        if spender is None or spender in conflicts:
            continue
        if not policy.full_rbf and not signals_rbf(graph.entries[spender].tx):
            raise MempoolRejectError("txn-mempool-conflict",
                                     f"spends {txin.prevout}, already spent by a pooled "
                                     f"non-replaceable tx")
        conflicts.add(spender)

    view = PoolCoinsView(chain, graph, next_height)
    coins: list[Coin] = []
    missing: list[OutPoint] = []
    for txin in tx.inputs:
        coin = view.get_coin(txin.prevout)
        if coin is None:
            missing.append(txin.prevout)
        else:
            coins.append(coin)
    if missing:
        for outpoint in missing:
            if outpoint.txid in graph.entries:
                raise MempoolRejectError("bad-txns-inputs-missingorspent",
                                         f"{outpoint}: the pooled parent has no such output")
        for index in range(len(tx.outputs)):
            if chain.get_coin(OutPoint(txid, index)) is not None:
                raise MempoolRejectError("txn-already-known", "outputs already in the UTXO set")
        raise MissingInputs(missing)

    if not check_sequence_locks(tx, CONSENSUS_LOCKTIME_FLAGS, [c.height for c in coins],
                                EntryChainContext(tip)):
        raise MempoolRejectError("non-BIP68-final", "relative locktime not yet reached")
    try:
        fee = check_tx_inputs(tx, view, next_height, params)
    except TxValidationError as exc:
        raise _reject(exc) from None
    check_standard_inputs(tx, coins)
    if contract_outs:
        check_contract_sender(coins)
    sigop_cost = transaction_sigop_cost(tx, coins, STANDARD_FLAGS)
    if sigop_cost > policy.max_tx_sigops_cost:
        raise MempoolRejectError("bad-txns-too-many-sigops", f"{sigop_cost}")

    vsize = tx.vsize
    if check_fees:
        # A contract transaction's fee pays its gas first (consensus), then the relay fee.
        needed = fee_for(policy.min_relay_fee_rate, vsize) + required_gas_fee(contract_outs)
        if fee < needed:
            raise MempoolRejectError("min relay fee not met", f"{fee} < {needed}")
        floor = fee_for(min_fee_rate, vsize) if min_fee_rate else 0
        if fee < floor:
            raise MempoolRejectError("mempool min fee not met", f"{fee} < {floor}")

    parents = graph.parents_of_inputs(txin.prevout for txin in tx.inputs)
    ancestors = graph.ancestors_of(parents)
    _check_package_limits(tx, ancestors, conflicts, graph, policy)
    candidate = Candidate(tx, fee, sigop_cost, tip.height, conflicts)
    if conflicts:
        candidate.replaced = check_replacement(tx, fee, conflicts, graph, policy)
    if check_scripts:
        verify_scripts(tx, coins, verifier)
    return candidate


def _check_package_limits(tx: Transaction, ancestors: set[bytes], conflicts: set[bytes],
                          graph: TxGraph, policy: MempoolPolicy) -> None:
    """Core's CalculateMemPoolAncestors limits (counts include the new tx)."""
    if ancestors & conflicts:
        raise MempoolRejectError("bad-txns-spends-conflicting-tx",
                                 "spends an output of a transaction it replaces")
    if len(ancestors) + 1 > policy.max_ancestors:
        raise MempoolRejectError("too-long-mempool-chain",
                                 f"too many unconfirmed ancestors [limit: {policy.max_ancestors}]")
    vsize = tx.vsize
    if vsize + sum(graph.entries[a].vsize for a in ancestors) > policy.max_ancestor_size:
        raise MempoolRejectError("too-long-mempool-chain",
                                 f"exceeds ancestor size limit [limit: {policy.max_ancestor_size}]")
    for ancestor_id in ancestors:
        ancestor = graph.entries[ancestor_id]
        if ancestor.descendant_count + 1 > policy.max_descendants:
            raise MempoolRejectError(
                "too-long-mempool-chain",
                f"too many descendants for tx {ancestor.tx.txid_hex} "
                f"[limit: {policy.max_descendants}]")
        if ancestor.descendant_size + vsize > policy.max_descendant_size:
            raise MempoolRejectError(
                "too-long-mempool-chain",
                f"exceeds descendant size limit for tx {ancestor.tx.txid_hex} "
                f"[limit: {policy.max_descendant_size}]")


def check_replacement(tx: Transaction, fee: int, conflicts: set[bytes], graph: TxGraph,
                      policy: MempoolPolicy) -> set[bytes]:
    """BIP125 rules 2-5 (rule 1, signalling, was checked when the conflicts were found) plus
    Core's feerate rule; returns every txid the replacement evicts.

    Like Core, signalling is checked on the directly conflicting txs only (not inherited from
    their ancestors)."""
    replaced = graph.descendants(conflicts)
    if len(replaced) > policy.max_replacements:  # rule 5
        raise MempoolRejectError("too many potential replacements",
                                 f"rejecting replacement {tx.txid_hex}; too many potential "
                                 f"replacements ({len(replaced)} > {policy.max_replacements})")
    original_parents = {txin.prevout.txid for c in conflicts
                        for txin in graph.entries[c].tx.inputs}
    for index, txin in enumerate(tx.inputs):  # rule 2
        parent = txin.prevout.txid
        if parent in graph.entries and parent not in original_parents:
            raise MempoolRejectError("replacement-adds-unconfirmed",
                                     f"replacement {tx.txid_hex} adds unconfirmed input {index}")
    vsize = tx.vsize
    for conflict_id in conflicts:  # Core's PaysMoreThanConflicts (feerate)
        conflict = graph.entries[conflict_id]
        if fee * conflict.vsize <= conflict.fee * vsize:
            raise MempoolRejectError("insufficient fee",
                                     f"rejecting replacement {tx.txid_hex}; new feerate not "
                                     f"above the replaced tx {conflict.tx.txid_hex}")
    replaced_fees = sum(graph.entries[r].fee for r in replaced)
    if fee < replaced_fees:  # rule 3
        raise MempoolRejectError("insufficient fee",
                                 f"rejecting replacement {tx.txid_hex}, less fees than "
                                 f"conflicting txs; {fee} < {replaced_fees}")
    needed = fee_for(policy.incremental_relay_fee_rate, vsize)
    if fee - replaced_fees < needed:  # rule 4
        raise MempoolRejectError("insufficient fee",
                                 f"rejecting replacement {tx.txid_hex}, not enough additional "
                                 f"fees to relay; {fee - replaced_fees} < {needed}")
    return replaced


def caching_verifier(cache: SignatureCache,
                     verifier: EcdsaVerifier = verify_ecdsa) -> EcdsaVerifier:
    """``verifier`` that records every successful check in ``cache`` (Core's
    CachingTransactionSignatureChecker with store=true): the block that later confirms the tx
    finds its signatures there and skips them. A hit answers at once; failures are never stored,
    so the cache cannot make an invalid signature valid."""

    def verify(pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
        if cache.contains(msg32, pubkey, der_sig):
            return True
        ok = verifier(pubkey, der_sig, msg32)
        if ok:
            cache.add(msg32, pubkey, der_sig)
        return ok

    return verify


def verify_scripts(tx: Transaction, coins: Sequence[Coin],
                   verifier: EcdsaVerifier = verify_ecdsa) -> None:
    """Every input under STANDARD_FLAGS; a failure is re-run under CONSENSUS_FLAGS to tell a
    consensus-invalid tx (peer misbehaviour) from a merely non-standard one (Core)."""
    precomputed = PrecomputedTransactionData(tx)
    for index, coin in enumerate(coins):
        try:
            verify_input(tx, index, coin.output, STANDARD_FLAGS, precomputed, verifier)
        except ScriptError as exc:
            try:
                verify_input(tx, index, coin.output, CONSENSUS_FLAGS, precomputed, verifier)
            except ScriptError as hard:
                raise MempoolRejectError(f"mandatory-script-verify-flag-failed ({hard.code.value})",
                                         f"input {index}: {hard}") from None
            raise MempoolRejectError(f"non-mandatory-script-verify-flag ({exc.code.value})",
                                     f"input {index}: {exc}") from None


__all__ = ["Candidate", "MissingInputs", "PoolCoinsView", "check_transaction_for_pool",
           "check_replacement", "verify_scripts", "caching_verifier"]
