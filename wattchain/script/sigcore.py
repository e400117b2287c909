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
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from wattchain.core.keys import verify_ecdsa as _pure_verify_ecdsa

PURE_ENV = "WATTCHAIN_PURE"
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

    def __init__(self, module: Any) -> None:
        addresses = [int(ffi.cast("uintptr_t", ffi.addressof(lib, fn)))
                     for fn in _LIBSECP_FUNCTIONS]
        ctx = int(ffi.cast("uintptr_t", GLOBAL_CONTEXT.ctx))
        # Keep the context owner alive as long as we hold its raw address.
        self._context_owner = GLOBAL_CONTEXT
        self._core = module.Secp256k1(ctx, *addresses)
        #: The bound core, for compiled callers (``WalkBatch.run``) that verify without Python.
        self.core = self._core
        self.walk_batch = module.WalkBatch
        self.verify_ecdsa = self._core.verify_ecdsa
        self.verify_ecdsa_many = self._core.verify_ecdsa_many
        self.verify_schnorr = self._core.verify_schnorr


def pure_forced(environ: Any = None) -> bool:
    """True when ``WATTCHAIN_PURE`` is set to anything but empty/``0``."""
    value = (os.environ if environ is None else environ).get(PURE_ENV, "")
    return value not in ("", "0")


@lru_cache(maxsize=2)
def _load(pure: bool) -> Backend:
    """Build a backend once per kind (an immutable value, so caching it is not shared state)."""
    if pure:
        return PureBackend()
    try:
        from wattchain.script import _sigcore  # type: ignore[attr-defined]
    except ImportError:
        return PureBackend()
    return CompiledBackend(_sigcore)


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


class WalkPiece:
    """Jobs ``start:end`` of a sealed compiled ``WalkBatch``: run once, by whichever thread
    claims it first (a worker, or the validating thread at the end of the block)."""

    __slots__ = ("walks", "core", "start", "end", "checks", "error", "_claim", "_done")

    def __init__(self, walks: Any, core: Any, start: int, end: int) -> None:
        self.walks, self.core, self.start, self.end = walks, core, start, end
        self.checks = 0
        self.error: BaseException | None = None
        self._claim = threading.Lock()
        self._done = threading.Event()

    def run(self) -> None:
        """Verify the piece unless another thread has claimed it (the GIL is released inside)."""
        if not self._claim.acquire(blocking=False):
            return
        try:
            self.checks = self.walks.run(self.core, self.start, self.end)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self.error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        """Make sure the piece never runs if no thread has started it (a block abandoned on
        another rule's failure must not keep the workers busy)."""
        if self._claim.acquire(blocking=False):
            self._done.set()

    def wait(self) -> int:
        """The checks made, once the piece is done (raises what the run raised)."""
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.checks


def finish_walks(pieces: "Sequence[WalkPiece]") -> int:
    """Run every piece no worker has started on this thread (from the back: workers take them
    from the front), wait for the rest; the checks made."""
    for piece in reversed(pieces):
        piece.run()
    return sum(piece.wait() for piece in pieces)


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
        self._walk_pool: ThreadPoolExecutor | None = None

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

    def submit_walks(self, walks: Any, split: bool = False) -> "list[WalkPiece]":
        """Seal a compiled ``WalkBatch`` and queue it (in one piece, or with ``split`` one per
        thread: the tail of a block) for the walk workers. Only for the compiled backend.

        Walks run on ``threads - 1`` workers, Bitcoin Core's check-queue layout: the calling
        thread is the last core, busy validating the block meanwhile, and at the end it runs
        whatever no worker has started (:func:`finish_walks`). With one thread nothing runs
        in the background."""
        walks.seal()
        n = len(walks)
        pieces = self.threads if split and n >= 2 * MIN_CHECKS_PER_THREAD else 1
        step = max(1, -(-n // pieces))
        core = self.backend.core  # type: ignore[attr-defined]
        made = [WalkPiece(walks, core, i, i + step) for i in range(0, max(n, 1), step)]
        if self.threads > 1:
            if self._walk_pool is None:
                self._walk_pool = ThreadPoolExecutor(max_workers=self.threads - 1,
                                                     thread_name_prefix="sigwalk")
            for piece in made:
                self._walk_pool.submit(piece.run)
        return made

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
        walk_pool, self._walk_pool = self._walk_pool, None
        if walk_pool is not None:
            walk_pool.shutdown(wait=True)

    def __enter__(self) -> "BatchVerifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["WalkPiece", "finish_walks", "SignatureCheck", "Backend", "PureBackend",
           "CompiledBackend", "BatchVerifier",
           "PURE_ENV", "pure_forced", "get_backend", "compiled_available", "backend_name",
           "verify_ecdsa", "verify_schnorr"]
