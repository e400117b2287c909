"""Signature verification backends and the parallel batch verifier.

Two backends answer the same questions with identical results:

* ``compiled`` — :mod:`wattchain.script._sigcore` (Cython): verifies a whole slice of checks in
  one C loop with the GIL released, so a thread pool really uses every core;
* ``pure`` — coincurve through :func:`wattchain.core.keys.verify_ecdsa`, one cffi call per check.

The compiled module is optional (built by ``pip install`` when a C compiler is present).
``WATTCHAIN_PURE=1`` forces the pure backend; a missing compiled module silently falls back to
it. :func:`backend_name` says which one is active so RPC and benchmarks can show it.

There is no module-level mutable state: the thread pool lives in a :class:`BatchVerifier` that
its owner (the node) creates and closes.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from wattchain.core.compiled import PURE_ENV, pure_forced
from wattchain.core.keys import verify_ecdsa as _pure_verify_ecdsa

#: Below this many checks per thread the pool's hand-off costs more than it saves.
MIN_CHECKS_PER_THREAD = 32

_LIBSECP_FUNCTIONS = ("secp256k1_ec_pubkey_parse", "secp256k1_ecdsa_signature_parse_compact",
                      "secp256k1_ecdsa_signature_normalize", "secp256k1_ecdsa_verify",
                      "secp256k1_xonly_pubkey_parse", "secp256k1_schnorrsig_verify")


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One ECDSA check: ``signature`` is DER (lax) *without* the sighash-type byte and
    ``digest`` the 32-byte signature hash it must sign for ``pubkey``."""

    pubkey: bytes
    signature: bytes
    digest: bytes


class Backend(Protocol):
    """What both backends provide."""

    name: str

    def verify_ecdsa(self, pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool: ...

    def verify_ecdsa_many(self, pubkeys: list[bytes], sigs: list[bytes],
                          msgs: list[bytes]) -> list[bool]: ...

    def verify_schnorr(self, xonly_pubkey: bytes, sig64: bytes, msg: bytes) -> bool: ...


class PureBackend:
    """coincurve/cffi, one call per check: the reference the compiled backend must match."""

    name = "pure"

    def verify_ecdsa(self, pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
        return _pure_verify_ecdsa(pubkey, der_sig, msg32)

    def verify_ecdsa_many(self, pubkeys: list[bytes], sigs: list[bytes],
                          msgs: list[bytes]) -> list[bool]:
        if not len(pubkeys) == len(sigs) == len(msgs):
            raise ValueError("pubkeys, sigs and msgs must have the same length")
        if any(len(m) != 32 for m in msgs):
            raise ValueError("ECDSA verification needs a 32-byte message digest")
        return [_pure_verify_ecdsa(p, s, m) for p, s, m in zip(pubkeys, sigs, msgs)]

    def verify_schnorr(self, xonly_pubkey: bytes, sig64: bytes, msg: bytes) -> bool:
        if len(xonly_pubkey) != 32 or len(sig64) != 64:
            return False
        ctx = GLOBAL_CONTEXT.ctx
        key = ffi.new("secp256k1_xonly_pubkey *")
        if not lib.secp256k1_xonly_pubkey_parse(ctx, key, xonly_pubkey):
            return False
        return bool(lib.secp256k1_schnorrsig_verify(ctx, sig64, msg, len(msg), key))


class CompiledBackend:
    """The Cython core bound to coincurve's libsecp256k1 (function pointers as integers)."""

    name = "compiled"

    def __init__(self, module: Any, queue_module: Any = None) -> None:
        addresses = [int(ffi.cast("uintptr_t", ffi.addressof(lib, fn)))
                     for fn in _LIBSECP_FUNCTIONS]
        ctx = int(ffi.cast("uintptr_t", GLOBAL_CONTEXT.ctx))
        # Keep the context owner alive as long as we hold its raw address.
        self._context_owner = GLOBAL_CONTEXT
        self._core = module.Secp256k1(ctx, *addresses)
        #: The bound core, for compiled callers (``WalkBatch.run``) that verify without Python.
        self.core = self._core
        #: Compiled walks need the GIL-free queue too (``_walk_queue``); without it the block
        #: fast path falls back to Python jobs (same results).
        self.walk_batch = module.WalkBatch if queue_module is not None else None
        self.walk_queue = queue_module.WalkQueue if queue_module is not None else None
        self.walk_session = queue_module.WalkSession if queue_module is not None else None
        self.verify_ecdsa = self._core.verify_ecdsa
        self.verify_ecdsa_many = self._core.verify_ecdsa_many
        self.verify_schnorr = self._core.verify_schnorr


@lru_cache(maxsize=2)
def _load(pure: bool) -> Backend:
    """Build a backend once per kind (an immutable value, so caching it is not shared state)."""
    if pure:
        return PureBackend()
    try:
        from wattchain.script import _sigcore  # type: ignore[attr-defined]
    except ImportError:
        return PureBackend()
    try:
        from wattchain.script import _walk_queue  # type: ignore[attr-defined]
    except ImportError:
        _walk_queue = None
    return CompiledBackend(_sigcore, _walk_queue)


def get_backend(pure: bool | None = None) -> Backend:
    """The active backend: compiled unless ``pure`` (default: ``WATTCHAIN_PURE``) or not built."""
    return _load(pure_forced() if pure is None else bool(pure))


def compiled_available() -> bool:
    """Whether the compiled core is built and importable (whatever ``WATTCHAIN_PURE`` says)."""
    return _load(False).name == "compiled"


def backend_name() -> str:
    """``"compiled"`` or ``"pure"``: what signature checks run on right now."""
    return get_backend().name


def verify_ecdsa(pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
    """One consensus ECDSA check on the active backend (drop-in for ``keys.verify_ecdsa``)."""
    return get_backend().verify_ecdsa(pubkey, der_sig, msg32)


def verify_schnorr(xonly_pubkey: bytes, sig64: bytes, msg: bytes) -> bool:
    """BIP340 check on the active backend (for later use by Taproot-style scripts)."""
    return get_backend().verify_schnorr(xonly_pubkey, sig64, msg)


class BatchVerifier:
    """Verifies batches of :class:`SignatureCheck` over a thread pool.

    The pool is created on first use and belongs to this object; call :meth:`close` (or use it
    as a context manager) when done. With the compiled backend every worker runs its slice
    without the GIL, so ``threads`` cores are used; the pure backend still works with threads
    (cffi drops the GIL during each call) but gains less.
    """

    def __init__(self, threads: int | None = None, backend: Backend | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads or os.cpu_count() or 1
        self.backend = backend if backend is not None else get_backend()
        self._pool: ThreadPoolExecutor | None = None
        self._walk_queue: Any = None
        self._walk_workers: list[threading.Thread] = []
        self._walk_finalizer: weakref.finalize | None = None
        self._walk_lock = threading.Lock()
        self._walk_pid = 0

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def verify_batch(self, checks: Sequence[SignatureCheck]) -> list[bool]:
        """One bool per check, in order."""
        return self.verify_lists([c.pubkey for c in checks], [c.signature for c in checks],
                                 [c.digest for c in checks])

    def verify_lists(self, pubkeys: list[bytes], sigs: list[bytes],
                     msgs: list[bytes]) -> list[bool]:
        """Like :meth:`verify_batch` on three parallel lists (avoids building check objects)."""
        n = len(pubkeys)
        workers = min(self.threads, n // MIN_CHECKS_PER_THREAD)
        many = self.backend.verify_ecdsa_many
        if workers <= 1:
            return many(pubkeys, sigs, msgs)
        pool = self._ensure_pool()
        step = -(-n // workers)
        futures = [pool.submit(many, pubkeys[i:i + step], sigs[i:i + step], msgs[i:i + step])
                   for i in range(0, n, step)]
        results: list[bool] = []
        for future in futures:
            results.extend(future.result())
        return results

    def submit(self, pubkeys: list[bytes], sigs: list[bytes],
               msgs: list[bytes]) -> "Future[list[bool]]":
        """Start verifying a chunk in the background and return at once (a future of results),
        so the caller's Python work overlaps the EC work. With one thread there is no
        background: the chunk is verified before returning."""
        if self.threads <= 1:
            done: Future[list[bool]] = Future()
            done.set_result(self.backend.verify_ecdsa_many(pubkeys, sigs, msgs))
            return done
        return self._ensure_pool().submit(self.backend.verify_ecdsa_many, pubkeys, sigs, msgs)

    def walk_session(self) -> Any:
        """A session (``_walk_queue.WalkSession``) for one block's compiled walks, or None
        with a backend that has none. Only for the compiled backend.

        Sealed ``WalkBatch`` es pushed to it run on ``threads - 1`` worker threads that never
        take the GIL. This is Bitcoin Core's check-queue layout: the calling thread is the
        last core. It is busy validating the block meanwhile, and at the end its ``finish``
        runs whatever no worker has taken. With one thread nothing runs in the background.
        The workers start on first use and stop in :meth:`close`, or when this verifier is
        garbage collected."""
        session_type = getattr(self.backend, "walk_session", None)
        if session_type is None:
            return None
        with self._walk_lock:  # two blocks connecting at once must not start two queues
            if self._walk_queue is not None and self._walk_pid != os.getpid():
                # A forked child: the workers did not come along and the queue's mutex may
                # have been held at the fork. Leave that queue alone (its finalizer too) and
                # start afresh.
                if self._walk_finalizer is not None:
                    self._walk_finalizer.detach()
                self._walk_queue, self._walk_workers, self._walk_finalizer = None, [], None
            if self._walk_queue is None:
                queue = self.backend.walk_queue(self.backend.core)  # type: ignore[attr-defined]
                workers = [threading.Thread(target=queue.serve, name=f"sigwalk-{i}",
                                            daemon=True) for i in range(self.threads - 1)]
                for worker in workers:
                    worker.start()
                self._walk_queue, self._walk_workers = queue, workers
                self._walk_pid = os.getpid()
                # An unclosed verifier must not leave its workers waiting forever.
                self._walk_finalizer = weakref.finalize(self, queue.shutdown)
            queue = self._walk_queue
        return session_type(queue)

    def _ensure_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="sigcheck")
        return self._pool

    def close(self) -> None:
        """Stop the worker threads (idempotent); the verifier still works, inline or anew."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._walk_lock:
            queue, self._walk_queue = self._walk_queue, None
            workers, self._walk_workers = self._walk_workers, []
            finalizer, self._walk_finalizer = self._walk_finalizer, None
        if queue is not None:
            queue.shutdown()  # sessions still open run their queued pieces themselves
            for worker in workers:
                worker.join()
        if finalizer is not None:
            finalizer.detach()

    def __enter__(self) -> "BatchVerifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SignatureCheck", "Backend", "PureBackend",
           "CompiledBackend", "BatchVerifier",
           "PURE_ENV", "pure_forced", "get_backend", "compiled_available", "backend_name",
           "verify_ecdsa", "verify_schnorr"]
