# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Worker threads for compiled signature walks that never take the GIL: Bitcoin Core's check
queue, for the block fast path (``wattchain/consensus/_connect_fast.pyx``).

Why this exists: the walks used to go to a Python thread pool, one task per batch. A pool
worker needs the GIL to pick a task up and again to hand it back, and the validating thread
holds the GIL for the whole compiled block loop. Measured on a full P2WPKH block with two
threads, the worker started its first batch only when the loop ended, about 0.13 s after the
batch was queued. For that stretch one core did no EC work. Here the queue is plain C data
under a pthread mutex. A worker calls :meth:`WalkQueue.serve` once, releases the GIL, and then
stays in C, taking small pieces of sealed ``WalkBatch`` es until :meth:`WalkQueue.shutdown`.

Ownership and lifetime: a :class:`WalkSession` (one block) pushes sealed batches and holds
references to them.
- :meth:`WalkSession.finish` runs on the calling thread the session's pieces no worker has
  taken, newest first (workers take the oldest), then waits for the pieces still running.
- :meth:`WalkSession.cancel` (and deallocation) drops the untaken pieces and waits for the
  running ones.
A session therefore never lets go of a batch while a worker still reads it. Pieces that are
queued when the queue shuts down stay queued, and their session's ``finish`` runs them, so no
work is lost.
"""

cimport cython
from libc.stdlib cimport free, malloc, realloc

from wattchain.script._sigcore cimport (SecpCalls, Secp256k1, WalkBatch, WalkJob, WalkKey,
                                        WalkSig, run_walks)


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *mutex, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *mutex)
    int pthread_mutex_lock(pthread_mutex_t *mutex)
    int pthread_mutex_unlock(pthread_mutex_t *mutex)
    int pthread_cond_init(pthread_cond_t *cond, const void *attr)
    int pthread_cond_destroy(pthread_cond_t *cond)
    int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
    int pthread_cond_signal(pthread_cond_t *cond)
    int pthread_cond_broadcast(pthread_cond_t *cond)


DEF QUEUED = 0
DEF RUNNING = 1
DEF DONE = 2

#: Jobs per piece: a P2WPKH job is one verify (~50 us), a 2-of-3 walk three, so a piece is
#: 1-3 ms of work. That is small enough to leave little imbalance at the end of a block, and
#: large enough that the mutex is noise.
DEF PIECE_JOBS = 16


ctypedef struct Piece:
    WalkJob *jobs
    const WalkKey *keys
    const WalkSig *sigs
    Py_ssize_t start
    Py_ssize_t end
    long checks
    int state
    Py_ssize_t *pending      # the owning session's count of pieces not yet done
    Piece *prev              # queue links (only while QUEUED)
    Piece *next


cdef class WalkQueue:
    """The shared queue and its workers' loop (see the module docstring).

    Any number of threads may :meth:`serve`. Sessions of any number of blocks may use one
    queue at the same time, because each session waits only for its own pieces.
    """

    cdef pthread_mutex_t mutex
    cdef pthread_cond_t work      # a piece was queued, or the queue is shutting down
    cdef pthread_cond_t done      # a piece finished
    cdef Piece *head
    cdef Piece *tail
    cdef bint closing
    cdef int serving
    cdef SecpCalls calls
    cdef Secp256k1 core           # keeps the bound core (and its context owner) alive

    def __cinit__(self, Secp256k1 core not None):
        pthread_mutex_init(&self.mutex, NULL)
        pthread_cond_init(&self.work, NULL)
        pthread_cond_init(&self.done, NULL)
        self.head = self.tail = NULL
        self.closing = False
        self.serving = 0
        self.calls = core.calls
        self.core = core

    def __dealloc__(self):
        # No thread can be serving: serve() holds a reference to the queue while it runs.
        pthread_cond_destroy(&self.work)
        pthread_cond_destroy(&self.done)
        pthread_mutex_destroy(&self.mutex)

    def serve(self):
        """A worker's whole life: call it from a dedicated thread. It returns after
        :meth:`shutdown`, once the piece in hand is done."""
        with nogil:
            self._serve()

    cdef void _serve(self) noexcept nogil:
        cdef Piece *piece
        cdef long checks
        pthread_mutex_lock(&self.mutex)
        self.serving += 1
        while True:
            while self.head == NULL and not self.closing:
                pthread_cond_wait(&self.work, &self.mutex)
            if self.closing:
                break
            piece = self.head
            _unlink(self, piece)
            piece.state = RUNNING
            pthread_mutex_unlock(&self.mutex)
            checks = run_walks(&self.calls, piece.jobs, piece.keys, piece.sigs,
                               piece.start, piece.end)
            pthread_mutex_lock(&self.mutex)
            piece.checks = checks
            piece.state = DONE
            piece.pending[0] -= 1
            pthread_cond_broadcast(&self.done)
        self.serving -= 1
        pthread_mutex_unlock(&self.mutex)

    def shutdown(self):
        """Ask every worker to leave after its current piece (idempotent). Queued pieces stay
        queued for their sessions to run."""
        with nogil:
            pthread_mutex_lock(&self.mutex)
            self.closing = True
            pthread_cond_broadcast(&self.work)
            pthread_mutex_unlock(&self.mutex)

    @property
    def workers(self):
        """Threads inside :meth:`serve` right now."""
        return self.serving

    @property
    def queued(self):
        """Pieces waiting for a thread. (The GIL stays held: the mutex is only ever held for
        a few pointer updates, and a worker never waits for the GIL.)"""
        cdef Py_ssize_t n = 0
        cdef Piece *piece
        pthread_mutex_lock(&self.mutex)
        piece = self.head
        while piece != NULL:
            n += 1
            piece = piece.next
        pthread_mutex_unlock(&self.mutex)
        return n


cdef inline void _unlink(WalkQueue queue, Piece *piece) noexcept nogil:
    """Take a queued piece out of the queue (the caller holds the mutex)."""
    if piece.prev != NULL:
        piece.prev.next = piece.next
    else:
        queue.head = piece.next
    if piece.next != NULL:
        piece.next.prev = piece.prev
    else:
        queue.tail = piece.prev
    piece.prev = piece.next = NULL


@cython.no_gc_clear  # __dealloc__ still needs self.queue when a cycle is collected
cdef class WalkSession:
    """One block's walks on a :class:`WalkQueue`: :meth:`push` sealed batches as they fill,
    then :meth:`finish` (all verified: the checks made) or :meth:`cancel` (dropped)."""

    cdef WalkQueue queue
    cdef list batches
    cdef Piece **pieces
    cdef Py_ssize_t n_pieces
    cdef Py_ssize_t cap_pieces
    cdef Py_ssize_t pending
    cdef Py_ssize_t piece_jobs

    def __cinit__(self, WalkQueue queue not None, Py_ssize_t piece_jobs=PIECE_JOBS):
        if piece_jobs < 1:
            raise ValueError("piece_jobs must be at least 1")
        self.queue = queue
        self.batches = []
        self.pieces = NULL
        self.n_pieces = self.cap_pieces = 0
        self.pending = 0
        self.piece_jobs = piece_jobs

    def __dealloc__(self):
        if self.n_pieces:
            with nogil:
                self._drain(False)
            self._release()

    def push(self, WalkBatch batch not None):
        """Queue every job of a sealed batch, in pieces, for the workers."""
        cdef Py_ssize_t start, first = self.n_pieces, i
        cdef Piece *piece
        cdef Piece **grown
        cdef WalkQueue queue = self.queue
        if not batch.sealed:
            raise RuntimeError("seal() the batch before pushing it")
        if batch.n_jobs == 0:
            return
        self.batches.append(batch)
        for start in range(0, batch.n_jobs, self.piece_jobs):
            if self.n_pieces == self.cap_pieces:
                grown = <Piece **>realloc(self.pieces,
                                          (self.cap_pieces * 2 + 16) * sizeof(Piece *))
                if grown == NULL:
                    self._forget(first)
                    raise MemoryError()
                self.pieces = grown
                self.cap_pieces = self.cap_pieces * 2 + 16
            piece = <Piece *>malloc(sizeof(Piece))
            if piece == NULL:
                self._forget(first)
                raise MemoryError()
            piece.jobs = batch.jobs
            piece.keys = batch.keys
            piece.sigs = batch.sigs
            piece.start = start
            piece.end = min(start + self.piece_jobs, batch.n_jobs)
            piece.checks = 0
            piece.state = QUEUED
            piece.pending = &self.pending
            piece.prev = piece.next = NULL
            self.pieces[self.n_pieces] = piece
            self.n_pieces += 1
        with nogil:
            pthread_mutex_lock(&queue.mutex)
            for i in range(first, self.n_pieces):
                piece = self.pieces[i]
                piece.prev = queue.tail
                if queue.tail != NULL:
                    queue.tail.next = piece
                else:
                    queue.head = piece
                queue.tail = piece
                self.pending += 1
            pthread_cond_broadcast(&queue.work)
            pthread_mutex_unlock(&queue.mutex)

    cdef void _forget(self, Py_ssize_t first) noexcept:
        """Free pieces made by a failed push before any was queued."""
        cdef Py_ssize_t i
        for i in range(first, self.n_pieces):
            free(self.pieces[i])
        self.n_pieces = first

    def finish(self):
        """Run the pieces no worker has taken on this thread, wait for the rest, and return
        the signature checks made. The session is empty afterwards and can be reused."""
        cdef Py_ssize_t i
        cdef long total = 0
        with nogil:
            self._drain(True)
        for i in range(self.n_pieces):
            total += self.pieces[i].checks
        self._release()
        return total

    def cancel(self):
        """Drop the pieces no worker has taken and wait for the running ones (a block that
        failed another rule must not keep the workers busy)."""
        with nogil:
            self._drain(False)
        self._release()

    cdef void _drain(self, bint run) noexcept nogil:
        cdef Py_ssize_t i
        cdef Piece *piece
        cdef long checks
        pthread_mutex_lock(&self.queue.mutex)
        i = self.n_pieces - 1
        while i >= 0:
            piece = self.pieces[i]
            i -= 1
            if piece.state != QUEUED:
                continue
            _unlink(self.queue, piece)
            if run:
                piece.state = RUNNING
                pthread_mutex_unlock(&self.queue.mutex)
                checks = run_walks(&self.queue.calls, piece.jobs, piece.keys, piece.sigs,
                                   piece.start, piece.end)
                pthread_mutex_lock(&self.queue.mutex)
                piece.checks = checks
            piece.state = DONE
            self.pending -= 1
        while self.pending > 0:
            pthread_cond_wait(&self.queue.done, &self.queue.mutex)
        pthread_mutex_unlock(&self.queue.mutex)

    cdef int _release(self) except -1:
        cdef Py_ssize_t i
        for i in range(self.n_pieces):
            free(self.pieces[i])
        self.n_pieces = 0
        self.batches = []
        return 0

    def __len__(self):
        """Pieces pushed and not yet finished or cancelled."""
        return self.n_pieces
