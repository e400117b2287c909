"""The GIL-free walk queue (``wattchain/script/_walk_queue.pyx``): every pushed job is verified
exactly once, by a worker or by the finishing thread, whatever the interleaving. Cancel and
deallocation drop untaken work and never return while a worker still reads a batch. The
workers stop with their verifier.

Each result is compared with ``WalkBatch.run`` on an identical batch on one thread, which is
itself checked against the pure walk in ``test_connect_fast.py``.
"""

from __future__ import annotations

import gc
import hashlib
import os
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.script import sigcore
from wattchain.script.sigcore import BatchVerifier

needs_compiled = pytest.mark.skipif(
    getattr(sigcore.get_backend(pure=False), "walk_session", None) is None,
    reason="compiled walk queue (wattchain/script/_walk_queue.pyx) is not built: "
           "run `pip install -e .` with a C compiler")
pytestmark = needs_compiled

SECRETS = [hashlib.sha256(b"walk-queue" + bytes((i,))).digest() for i in range(3)]
PUBKEYS = [public_key(secret) for secret in SECRETS]
DIGESTS = [hashlib.sha256(bytes((i,))).digest() for i in range(8)]
SIGS = {(k, d): sign_ecdsa(SECRETS[k], DIGESTS[d]) for k in range(3) for d in range(8)}


def backend():
    return sigcore.get_backend(pure=False)


def make_batch(plan: list[tuple[int, int, bool]], first_owner: int = 0):
    """A sealed batch: per job (key, digest, valid?) a 1-of-1 walk; an invalid one is signed
    for another digest."""
    walks = backend().walk_batch()
    for i, (k, d, valid) in enumerate(plan):
        sig = SIGS[(k, d if valid else (d + 1) % 8)]
        walks.add_walk(first_owner + i, [PUBKEYS[k]], [(sig, DIGESTS[d])])
    walks.seal()
    return walks


def reference(plan, first_owner=0):
    walks = make_batch(plan, first_owner)
    checks = walks.run(backend().core)
    return checks, walks.failed_owners()


def start_workers(queue, n):
    workers = [threading.Thread(target=queue.serve, daemon=True) for _ in range(n)]
    for worker in workers:
        worker.start()
    return workers


def stop(queue, workers):
    queue.shutdown()
    for worker in workers:
        worker.join(timeout=30)
        assert not worker.is_alive()


plans = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 7), st.booleans()),
                 min_size=0, max_size=40)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(plans, min_size=1, max_size=5), workers=st.integers(0, 3),
       piece_jobs=st.integers(1, 9))
def test_finish_verifies_every_job_once_like_a_sequential_run(batches, workers, piece_jobs):
    """Any number of workers (none too) and any piece size give the sequential answer."""
    queue = backend().walk_queue(backend().core)
    running = start_workers(queue, workers)
    try:
        session = backend().walk_session(queue, piece_jobs)
        pushed, owner = [], 0
        expected_checks, expected_failed = 0, []
        for plan in batches:
            walks = make_batch(plan, owner)
            session.push(walks)
            pushed.append(walks)
            checks, failed = reference(plan, owner)
            expected_checks += checks
            expected_failed += failed
            owner += len(plan)
        assert session.finish() == expected_checks
        assert [o for walks in pushed for o in walks.failed_owners()] == expected_failed
        assert len(session) == 0 and queue.queued == 0
    finally:
        stop(queue, running)


def test_workers_verify_in_the_background_without_the_gil():
    """Pushed pieces are taken by the workers while this thread keeps the GIL (as the
    validating thread does in the compiled block loop). With a 100 s switch interval no
    thread waiting for the GIL can ask for it while this one spins."""
    queue = backend().walk_queue(backend().core)
    workers = start_workers(queue, 1)
    saved = sys.getswitchinterval()
    try:
        session = backend().walk_session(queue, 4)
        batch = make_batch([(i % 3, i % 8, True) for i in range(64)])  # ~3 ms of EC work
        sys.setswitchinterval(100.0)
        session.push(batch)
        deadline = time.perf_counter() + 0.5
        while time.perf_counter() < deadline:  # hold the GIL
            pass
        left = queue.queued
        sys.setswitchinterval(saved)
        assert left == 0, "the worker needed the GIL to take pieces"
        assert session.finish() == 64
    finally:
        sys.setswitchinterval(saved)
        stop(queue, workers)


def test_cancel_drops_untaken_pieces_and_a_new_session_goes_on():
    queue = backend().walk_queue(backend().core)  # no workers: nothing is ever taken
    session = backend().walk_session(queue, 2)
    walks = make_batch([(0, 0, True)] * 6)
    session.push(walks)
    assert queue.queued == 3 and len(session) == 3
    session.cancel()
    assert queue.queued == 0 and len(session) == 0
    assert walks.checks == 0  # never verified
    again = backend().walk_session(queue, 2)
    again.push(make_batch([(1, 1, True), (1, 1, False)]))
    assert again.finish() == 2


def test_a_dropped_session_leaves_the_queue_clean():
    queue = backend().walk_queue(backend().core)
    session = backend().walk_session(queue)
    session.push(make_batch([(2, 3, True)] * 40))
    assert queue.queued > 0
    del session
    gc.collect()
    assert queue.queued == 0


def test_pieces_queued_at_shutdown_are_run_by_their_session():
    queue = backend().walk_queue(backend().core)
    workers = start_workers(queue, 2)
    stop(queue, workers)
    assert queue.workers == 0
    session = backend().walk_session(queue, 3)
    plan = [(i % 3, i % 8, i % 5 != 0) for i in range(20)]
    walks = make_batch(plan)
    session.push(walks)
    assert session.finish() == reference(plan)[0]
    assert walks.failed_owners() == reference(plan)[1]


def test_sessions_of_two_blocks_share_the_workers():
    queue = backend().walk_queue(backend().core)
    workers = start_workers(queue, 2)
    results: dict[int, tuple[int, list[int]]] = {}

    def block(tag: int) -> None:
        plan = [((i + tag) % 3, (i * tag) % 8, (i + tag) % 7 != 0) for i in range(50)]
        session = backend().walk_session(queue, 4)
        walks = make_batch(plan, 1000 * tag)
        session.push(walks)
        results[tag] = (session.finish(), walks.failed_owners())
        assert results[tag] == reference(plan, 1000 * tag)

    try:
        threads = [threading.Thread(target=block, args=(tag,)) for tag in (1, 2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [1, 2, 3]
    finally:
        stop(queue, workers)


def test_bad_use_is_refused():
    queue = backend().walk_queue(backend().core)
    with pytest.raises(ValueError):
        backend().walk_session(queue, 0)
    open_batch = backend().walk_batch()
    open_batch.add_walk(0, [PUBKEYS[0]], [(SIGS[(0, 0)], DIGESTS[0])])
    with pytest.raises(RuntimeError, match="seal"):
        backend().walk_session(queue).push(open_batch)
    empty = backend().walk_batch()
    empty.seal()
    session = backend().walk_session(queue)
    session.push(empty)  # nothing to do
    assert len(session) == 0 and session.finish() == 0


# ------------------------------------------------------------------------------ the verifier
def _walk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sigwalk-")]


def test_verifier_runs_threads_minus_one_workers_and_stops_them():
    before = len(_walk_threads())
    verifier = BatchVerifier(3, backend())
    session = verifier.walk_session()
    assert len(_walk_threads()) == before + 2
    session.push(make_batch([(0, 1, True)] * 10))
    assert session.finish() == 10
    verifier.close()
    assert len(_walk_threads()) == before
    # still usable after close: new workers on first use
    session = verifier.walk_session()
    session.push(make_batch([(0, 1, True)]))
    assert session.finish() == 1
    verifier.close()


def test_a_forgotten_verifier_stops_its_workers():
    verifier = BatchVerifier(2, backend())
    verifier.walk_session()
    (worker,) = verifier._walk_workers
    del verifier
    gc.collect()
    worker.join(timeout=30)
    assert not worker.is_alive()


def test_one_thread_has_no_workers_and_the_pure_backend_no_session():
    verifier = BatchVerifier(1, backend())
    session = verifier.walk_session()
    assert verifier._walk_workers == []
    session.push(make_batch([(1, 2, False)]))
    assert session.finish() == 1
    verifier.close()
    assert BatchVerifier(2, sigcore.get_backend(pure=True)).walk_session() is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_workers():
    """A child forked while the workers run (the gossip bench forks its nodes) has none of
    them: its next session starts a new queue instead of waiting on the parent's."""
    verifier = BatchVerifier(2, backend())
    session = verifier.walk_session()
    session.push(make_batch([(0, 1, True)] * 8))
    assert session.finish() == 8
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if the walks ran
        try:
            child = verifier.walk_session()
            child.push(make_batch([(2, 3, True)] * 8))
            workers = verifier._walk_workers
            alive = len(workers) == 1 and workers[0].is_alive()
            code = 0 if child.finish() == 8 and alive else 1
        except BaseException:  # noqa: BLE001 - reported through the exit status
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    verifier.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_session_in_a_collected_cycle_is_cancelled_safely():
    """A session dropped inside a reference cycle (e.g. held by a frame of a traceback) is
    deallocated by the cycle collector: its queued pieces are dropped, nothing crashes."""
    queue = backend().walk_queue(backend().core)
    session = backend().walk_session(queue, 4)  # before the list: the collector clears the
    session.push(make_batch([(1, 1, True)] * 12))  # unreachable objects in that order
    holder: list[object] = [session]
    holder.append(holder)  # a cycle: holder -> holder
    del session, holder
    gc.collect()
    assert queue.queued == 0
