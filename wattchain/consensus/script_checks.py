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

import sys
from collections import deque
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
from wattchain.script.sigcore import MIN_CHECKS_PER_THREAD, Backend, BatchVerifier
from wattchain.script.sighash import PrecomputedTransactionData


#: Thread switch interval while a multi-threaded block session is open (see BlockScripts).
WORKER_SWITCH_INTERVAL = 0.0005


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

    Checks are sent to the verifier's threads in chunks as they accumulate, so the EC work runs
    on other cores while the caller keeps validating the block in Python (Core's check queue).
    Finished chunks are collected as the block goes on: a CHECKMULTISIG walk that needs its
    next comparison gets it queued at once, so the later rounds overlap the block too instead
    of running one after another at the end. :meth:`finish` waits for the rest and raises for
    the first failing input in block order.

    Whole inputs walked by the compiled block loop (:meth:`walk_batch`) go to the verifier's
    GIL-free walk queue (``wattchain/script/_walk_queue.pyx``) instead, and never wait for
    the GIL.

    While a multi-threaded session is open the interpreter's thread switch interval is
    lowered (and restored by :meth:`finish` or :meth:`close`): each Python pool worker needs
    the GIL for a moment to take a chunk and to hand back its results, and with the default
    5 ms interval a busy validating thread keeps those workers idle for most of that time.
    (Sessions opened while the interval is already low leave it alone; a session never
    raises it.)
    """

    def __init__(self, verifier: "ScriptVerifier", flags: ScriptFlags) -> None:
        self._verifier = verifier
        self._flags = flags
        self._cache = verifier.sigcache
        # Signature hashing follows the EC backend: compiled fast paths with the compiled core.
        self._pure = verifier.batch.backend.name != "compiled"
        self._chunk_size = verifier.chunk_size
        # (tx, index, spent output, precomputed, job); precomputed and job are None for an
        # input checked by a compiled walk (see walk_batch).
        self._inputs: list[tuple[Transaction, int, TxOut, PrecomputedTransactionData | None,
                                 Job | None]] = []
        # In submission order: (owners, future results, slots); see _queue.
        self._chunks: deque[tuple[list[tuple[Job, list[bool], int]], Future[list[bool]],
                                  list[tuple[list[bool], int]]]] = deque()
        self._owners: list[tuple[Job, list[bool], int]] = []  # (job, its results, its round)
        self._slots: list[tuple[list[bool], int]] = []  # (a job's result list, index in it)
        self._pubkeys: list[bytes] = []
        self._sigs: list[bytes] = []
        self._msgs: list[bytes] = []
        self.stats = ScriptCheckStats()
        # Compiled walks (see walk_batch): only with the compiled core and the consensus flags,
        # the one flag set the block fast path models.
        backend = verifier.batch.backend
        self._walk_type = (getattr(backend, "walk_batch", None)
                           if int(flags) == int(CONSENSUS_FLAGS) else None)
        # Positions in _inputs of the inputs with a Python job (the rest are compiled walks).
        self._job_positions: list[int] = []
        self._walks = None
        self._walk_session = None  # the verifier's WalkSession, opened with the first walks
        self._walk_batches: list[object] = []  # every batch pushed to it
        self._saved_switch: float | None = None
        if verifier.batch.threads > 1 and sys.getswitchinterval() > WORKER_SWITCH_INTERVAL:
            self._saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(WORKER_SWITCH_INTERVAL)

    def add(self, tx: Transaction, coins: Sequence[Coin]) -> None:
        """Queue every input of ``tx`` (``coins[i]`` is what input i spends)."""
        flags = self._flags
        stats = self.stats
        precomputed = PrecomputedTransactionData(tx)
        inputs = self._inputs
        queue = self._queue
        pure = self._pure
        for index, coin in enumerate(coins):
            out = coin.output
            job = template_job(tx, index, out, flags, precomputed, pure=pure)
            if job is None:
                stats.interpreter_inputs += 1
                job = recorded_job(tx, index, out, flags, precomputed)
            else:
                stats.template_inputs += 1
            self._job_positions.append(len(inputs))
            inputs.append((tx, index, out, precomputed, job))
            if not job.failed:
                queue(job, 1)
        if len(self._pubkeys) >= self._chunk_size:
            self._submit()
            self._collect(wait=False)

    # ------------------------------------------------------------------ compiled walks
    @property
    def sigcache(self) -> SignatureCache | None:
        return self._cache

    def walk_batch(self) -> object | None:
        """The open compiled ``WalkBatch`` the block fast path (``_connect_fast``) appends whole
        inputs to, or None when this session cannot take them (pure backend, other flags).

        Each input so added is also appended to :attr:`inputs` as ``(tx, index, spent output,
        None, None)``; its position there is the walk's owner tag, so a failed walk sends that
        input to the interpreter in block order."""
        if self._walks is None and self._walk_type is not None:
            if self._walk_session is None:
                self._walk_session = self._verifier.batch.walk_session()
                if self._walk_session is None:
                    self._walk_type = None
                    return None
            self._walks = self._walk_type()
        return self._walks

    @property
    def inputs(self) -> list[tuple[Transaction, int, TxOut, PrecomputedTransactionData | None,
                                   Job | None]]:
        """Every input of the block so far, in block order (see :meth:`walk_batch`)."""
        return self._inputs

    def submit_walks(self) -> None:
        """Seal the open walk batch and queue it for the verifier's worker threads (the fast
        path calls this every few hundred inputs, so the EC work overlaps the rest of the
        block)."""
        walks, self._walks = self._walks, None
        if walks is not None and len(walks):  # type: ignore[arg-type]
            walks.seal()  # type: ignore[attr-defined]
            self._walk_session.push(walks)  # type: ignore[union-attr]
            self._walk_batches.append(walks)

    def _finish_walks(self) -> set[int]:
        """Verify every walk (this thread joins in); the owner tags of the failed ones."""
        self.submit_walks()
        failed: set[int] = set()
        if self._walk_session is not None:
            self.stats.checks += self._walk_session.finish()
        for walks in self._walk_batches:
            failed.update(walks.failed_owners())  # type: ignore[attr-defined]
            self.stats.cache_hits += walks.hits  # type: ignore[attr-defined]
        self._walk_batches = []
        return failed

    def _queue(self, job: Job, round_: int) -> None:
        """Ask ``job`` for its next checks and queue those not in the signature cache."""
        checks = job.next_checks()
        if not checks:
            return  # nothing (more) to check: the job's verdict stands
        results = [True] * len(checks)
        self._owners.append((job, results, round_))
        stats = self.stats
        stats.checks += len(checks)
        if round_ > stats.rounds:
            stats.rounds = round_
        cache = self._cache
        for k, (pubkey, sig, digest) in enumerate(checks):
            if cache is not None and cache.contains(digest, pubkey, sig):
                stats.cache_hits += 1
                continue
            self._slots.append((results, k))
            self._pubkeys.append(pubkey)
            self._sigs.append(sig)
            self._msgs.append(digest)

    def _submit(self, split: bool = False) -> None:
        """Send the queued checks to the workers (as one chunk, or with ``split`` in one
        piece per thread: the tail of a block, where nothing else overlaps)."""
        if not self._owners:
            return
        batch = self._verifier.batch
        pieces = batch.threads if split else 1
        n = len(self._pubkeys)
        if n == 0:  # every check was a cache hit (or none was needed)
            done: Future[list[bool]] = Future()
            done.set_result([])
            self._chunks.append((self._owners, done, self._slots))
        elif pieces > 1 and n >= 2 * MIN_CHECKS_PER_THREAD:
            step = -(-n // pieces)
            for i in range(0, n, step):
                last = i + step >= n
                future = batch.submit(self._pubkeys[i:i + step], self._sigs[i:i + step],
                                      self._msgs[i:i + step])
                # Jobs are fed once every piece is in: only the last piece carries the owners.
                self._chunks.append((self._owners if last else [], future,
                                     self._slots[i:i + step]))
        else:
            future = batch.submit(self._pubkeys, self._sigs, self._msgs)
            self._chunks.append((self._owners, future, self._slots))
        self._owners, self._slots = [], []
        self._pubkeys, self._sigs, self._msgs = [], [], []

    def _collect(self, wait: bool) -> None:
        """Feed the results of finished chunks, oldest first, to their jobs; walks that go on
        get their next check queued. With ``wait``, until every chunk is done."""
        chunks = self._chunks
        queue = self._queue
        while chunks:
            owners, future, slots = chunks[0]
            if not wait and not future.done():
                return
            chunks.popleft()
            for (results, k), ok in zip(slots, future.result()):
                results[k] = ok
            for job, results, round_ in owners:
                job.feed(results)
                if not job.failed and isinstance(job, MultisigWalk):
                    queue(job, round_ + 1)
            if wait and self._owners and (not chunks or len(self._pubkeys) >= self._chunk_size):
                self._submit(split=not chunks)

    def finish(self) -> None:
        """Wait for every check; raise :class:`BlockValidationError` for the first failing
        input in block order, with the interpreter's own reason."""
        try:
            self._submit(split=True)
            failed_walks = self._finish_walks()
            self._collect(wait=True)
        finally:
            self.close()
        self.stats.inputs = len(self._inputs)
        self._verifier.last_stats = self.stats
        # Only failures are revisited (a full block of walks must not cost a Python pass).
        inputs = self._inputs
        failed = failed_walks.union(p for p in self._job_positions
                                    if inputs[p][4].failed)  # type: ignore[union-attr]
        for position in sorted(failed):
            tx, index, out, precomputed, _ = inputs[position]
            if precomputed is None:
                precomputed = PrecomputedTransactionData(tx)
            try:
                verify_input(tx, index, out, self._flags, precomputed)
            except ScriptError as exc:
                raise script_failure(tx, index, exc) from exc

    def close(self) -> None:
        """Restore the thread switch interval and drop the compiled walks no worker has
        started (idempotent): for a block abandoned on another rule's failure. Walks already
        running are waited for (a piece is a few milliseconds), since they read the batches;
        Python chunks still running finish in the background and are dropped."""
        saved, self._saved_switch = self._saved_switch, None
        if saved is not None:
            sys.setswitchinterval(saved)
        session, self._walk_session = self._walk_session, None
        if session is not None:
            session.cancel()  # walks not started yet are dropped, not verified for nothing
        self._walks = None
        self._walk_batches = []


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
        try:
            for tx, coins in spends:
                session.add(tx, coins)
            session.finish()
        finally:
            session.close()

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
