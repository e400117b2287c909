"""A block's script checks: collected input by input, verified in parallel batches.

Why: running the interpreter input by input spends most of a block's validation time in Python
around one libsecp256k1 call at a time. Here every input becomes a job
(:mod:`wattchain.consensus.script_templates`: template fast paths for P2WPKH, P2PKH and
multisig, a recorded interpreter run for anything else) whose ECDSA checks are verified
together by a :class:`~wattchain.script.sigcore.BatchVerifier` (compiled core, GIL released,
all cores), in chunks sent off while the rest of the block is still being validated.

Correctness: every failed check, and every input no job could vouch for, goes to the plain
interpreter, which raises the very same error as without this module, for the first failing
input in block order.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from wattchain.consensus.coins import Coin
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.script_templates import (Job, MultisigWalk, recorded_job,
                                                  template_job)
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS, ScriptFlags
from wattchain.script.interpreter import verify_input
from wattchain.script.sigcache import SignatureCache
from wattchain.script.sigcore import Backend, BatchVerifier
from wattchain.script.sighash import PrecomputedTransactionData


def script_failure(tx: Transaction, index: int, exc: ScriptError) -> BlockValidationError:
    """The block error for a failing input (Core's reason string; detail names the input)."""
    return BlockValidationError(f"mandatory-script-verify-flag-failed ({exc.code.value})",
                                f"input {index} of tx {tx.txid_hex}: {exc}")


# ------------------------------------------------------------------------------ the verifier
@dataclass
class ScriptCheckStats:
    """What the last block's script checks did (for tests, RPC and benchmarks)."""

    inputs: int = 0
    template_inputs: int = 0
    interpreter_inputs: int = 0
    checks: int = 0
    cache_hits: int = 0
    rounds: int = 0


class BlockScripts:
    """One block's script checks, fed transaction by transaction while the block connects.

    First-round checks are sent to the verifier's threads in chunks as they accumulate, so the
    EC work runs on other cores while the caller keeps validating the block in Python (Core's
    check queue). :meth:`finish` waits, replays the remaining CHECKMULTISIG rounds and raises
    for the first failing input in block order.
    """

    def __init__(self, verifier: "ScriptVerifier", flags: ScriptFlags) -> None:
        self._verifier = verifier
        self._flags = flags
        self._inputs: list[tuple[Transaction, int, TxOut, PrecomputedTransactionData, Job]] = []
        self._chunks: list[tuple[list[tuple[Job, list[bool]]], Future[list[bool]],
                                 list[tuple[list[bool], int]]]] = []
        self._owners: list[tuple[Job, list[bool]]] = []
        self._slots: list[tuple[list[bool], int]] = []  # (a job's result list, index in it)
        self._pubkeys: list[bytes] = []
        self._sigs: list[bytes] = []
        self._msgs: list[bytes] = []
        self.stats = ScriptCheckStats()

    def add(self, tx: Transaction, coins: Sequence[Coin]) -> None:
        """Queue every input of ``tx`` (``coins[i]`` is what input i spends)."""
        flags = self._flags
        stats = self.stats
        cache = self._verifier.sigcache
        precomputed = PrecomputedTransactionData(tx)
        for index, coin in enumerate(coins):
            out = coin.output
            job = template_job(tx, index, out, flags, precomputed)
            if job is None:
                stats.interpreter_inputs += 1
                job = recorded_job(tx, index, out, flags, precomputed)
            else:
                stats.template_inputs += 1
            self._inputs.append((tx, index, out, precomputed, job))
            if job.failed:
                continue
            checks = job.next_checks()
            results = [True] * len(checks)
            self._owners.append((job, results))
            for k, (pubkey, sig, digest) in enumerate(checks):
                if cache is not None and cache.contains(digest, pubkey, sig):
                    stats.cache_hits += 1
                    continue
                self._slots.append((results, k))
                self._pubkeys.append(pubkey)
                self._sigs.append(sig)
                self._msgs.append(digest)
            stats.checks += len(checks)
        if len(self._pubkeys) >= self._verifier.chunk_size:
            self._submit()

    def _submit(self) -> None:
        future = self._verifier.batch.submit(self._pubkeys, self._sigs, self._msgs)
        self._chunks.append((self._owners, future, self._slots))
        self._owners, self._slots = [], []
        self._pubkeys, self._sigs, self._msgs = [], [], []

    def finish(self) -> None:
        """Wait for every check; raise :class:`BlockValidationError` for the first failing
        input in block order, with the interpreter's own reason."""
        self._submit()
        walks: list[Job] = []
        for owners, future, slots in self._chunks:
            for (results, k), ok in zip(slots, future.result()):
                results[k] = ok
            for job, results in owners:
                job.feed(results)
                if not job.failed and isinstance(job, MultisigWalk):
                    walks.append(job)
        self._chunks = []
        self.stats.inputs = len(self._inputs)
        self.stats.rounds = 1 if self.stats.checks else 0
        self._verifier.run_rounds(walks, self.stats)
        self._verifier.last_stats = self.stats
        for tx, index, out, precomputed, job in self._inputs:
            if job.failed:
                try:
                    verify_input(tx, index, out, self._flags, precomputed)
                except ScriptError as exc:
                    raise script_failure(tx, index, exc) from exc


class ScriptVerifier:
    """Verifies all script checks of a block in parallel batches; owned (and closed) by the node.

    ``sigcache`` (optional) is consulted before verifying: entries put there on mempool
    acceptance are not verified again. Block validation does not add to it, as Core does not:
    a confirmed transaction is not seen again.
    """

    #: Checks per background chunk: big enough to amortise the hand-off, small enough to start
    #: the EC work early in the block.
    chunk_size = 512

    def __init__(self, threads: int | None = None, sigcache: SignatureCache | None = None,
                 backend: Backend | None = None) -> None:
        self.batch = BatchVerifier(threads, backend)
        self.sigcache = sigcache
        self.last_stats = ScriptCheckStats()

    @property
    def backend_name(self) -> str:
        return self.batch.backend_name

    def start_block(self, flags: ScriptFlags = CONSENSUS_FLAGS) -> BlockScripts:
        """A session to :meth:`BlockScripts.add` a block's transactions to, then finish."""
        return BlockScripts(self, flags)

    def verify_block(self, spends: Sequence[tuple[Transaction, Sequence[Coin]]],
                     flags: ScriptFlags = CONSENSUS_FLAGS) -> None:
        """Check every input of every ``(tx, spent coins)``; raise :class:`BlockValidationError`
        for the first failing input in block order, with the interpreter's reason."""
        session = self.start_block(flags)
        for tx, coins in spends:
            session.add(tx, coins)
        session.finish()

    def run_rounds(self, jobs: list[Job], stats: ScriptCheckStats) -> None:
        """Ask unfinished jobs for their next checks until all are done, one batch per round."""
        active = [job for job in jobs if not job.failed]
        cache = self.sigcache
        while active:
            owners: list[tuple[Job, int]] = []
            pubkeys: list[bytes] = []
            sigs: list[bytes] = []
            msgs: list[bytes] = []
            results: list[bool] = []
            todo: list[int] = []  # positions in results still to verify
            for job in active:
                checks = job.next_checks()
                owners.append((job, len(checks)))
                for pubkey, sig, digest in checks:
                    if cache is not None and cache.contains(digest, pubkey, sig):
                        stats.cache_hits += 1
                        results.append(True)
                        continue
                    todo.append(len(results))
                    results.append(False)
                    pubkeys.append(pubkey)
                    sigs.append(sig)
                    msgs.append(digest)
            if not results:
                break
            stats.rounds += 1
            stats.checks += len(results)
            for position, ok in zip(todo, self.batch.verify_lists(pubkeys, sigs, msgs)):
                results[position] = ok
            still: list[Job] = []
            start = 0
            for job, count in owners:
                if count:
                    job.feed(results[start:start + count])
                    start += count
                    if not job.failed and isinstance(job, MultisigWalk):
                        still.append(job)
            active = still

    def close(self) -> None:
        self.batch.close()

    def __enter__(self) -> "ScriptVerifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ScriptVerifier", "BlockScripts", "ScriptCheckStats", "template_job", "recorded_job",
           "script_failure"]
