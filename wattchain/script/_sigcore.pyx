# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled signature checks: libsecp256k1 called directly, with the GIL released.

Why this exists: a block holds thousands of signatures and the pure path pays a Python -> cffi
round trip (and the GIL) per check, so extra threads cannot help. Here a whole slice of checks
runs in one ``nogil`` C loop, so a thread pool (see :mod:`wattchain.script.sigcore`) spreads a
block over every core.

No libsecp256k1 is linked at build time: coincurve ships it inside its cffi module, and the
Python side hands us the addresses of the few functions we need plus its (read-only, thread-safe
for verification) context as plain integers, through :func:`bind`. The opaque structs are
declared here by size only, as libsecp256k1's headers define them (64 bytes each).

Results must equal :func:`wattchain.core.keys.verify_ecdsa` for every input, so the lax DER
parser below is a line-by-line port of ``keys.parse_der_lax`` (Bitcoin Core's
``ecdsa_signature_parse_der_lax``), followed by the same parse_compact / normalize / verify.
"""

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

cdef class Secp256k1:
    """The bound libsecp256k1 entry points and context (immutable once made; attributes are
    declared in ``_sigcore.pxd``)."""

    def __cinit__(self, uintptr_t ctx, uintptr_t pubkey_parse, uintptr_t parse_compact,
                  uintptr_t normalize, uintptr_t ecdsa_verify, uintptr_t xonly_parse,
                  uintptr_t schnorr_verify):
        if not (ctx and pubkey_parse and parse_compact and normalize and ecdsa_verify
                and xonly_parse and schnorr_verify):
            raise ValueError("libsecp256k1 context and function addresses must be non-null")
        self.calls.ctx = <const void *>ctx
        self.calls.pubkey_parse = <pubkey_parse_t>pubkey_parse
        self.calls.parse_compact = <sig_parse_compact_t>parse_compact
        self.calls.normalize = <sig_normalize_t>normalize
        self.calls.ecdsa_verify = <ecdsa_verify_t>ecdsa_verify
        self.calls.xonly_parse = <xonly_parse_t>xonly_parse
        self.calls.schnorr_verify = <schnorr_verify_t>schnorr_verify

    cdef int _verify_one(self, const Check *c) noexcept nogil:
        return verify_check(&self.calls, c)

    def verify_ecdsa(self, bytes pubkey not None, bytes der_sig not None, bytes msg32 not None):
        """One Bitcoin-consensus ECDSA check (same contract as ``keys.verify_ecdsa``)."""
        cdef Check c
        if len(msg32) != 32:
            raise ValueError("ECDSA verification needs a 32-byte message digest")
        c.pub = pubkey
        c.publen = len(pubkey)
        c.sig = der_sig
        c.siglen = len(der_sig)
        c.msg = msg32
        return bool(self._verify_one(&c))

    def verify_ecdsa_many(self, list pubkeys not None, list sigs not None, list msgs not None):
        """Check ``pubkeys[i], sigs[i], msgs[i]`` for every i; a list of bools.

        Pointers into the (immutable) bytes objects are gathered with the GIL held; the lists
        keep them alive while the C loop runs without the GIL.
        """
        cdef Py_ssize_t n = len(pubkeys)
        cdef Py_ssize_t i
        cdef Check *checks
        cdef unsigned char *ok
        cdef bytes p, s, m
        if len(sigs) != n or len(msgs) != n:
            raise ValueError("pubkeys, sigs and msgs must have the same length")
        if n == 0:
            return []
        checks = <Check *>malloc(n * sizeof(Check))
        ok = <unsigned char *>malloc(n)
        if checks == NULL or ok == NULL:
            free(checks)
            free(ok)
            raise MemoryError()
        try:
            for i in range(n):
                p = pubkeys[i]
                s = sigs[i]
                m = msgs[i]
                if len(m) != 32:
                    raise ValueError("ECDSA verification needs a 32-byte message digest")
                checks[i].pub = p
                checks[i].publen = len(p)
                checks[i].sig = s
                checks[i].siglen = len(s)
                checks[i].msg = m
            with nogil:
                for i in range(n):
                    ok[i] = <unsigned char>self._verify_one(&checks[i])
            return [ok[i] != 0 for i in range(n)]
        finally:
            free(checks)
            free(ok)

    def verify_schnorr(self, bytes xonly_pubkey not None, bytes sig64 not None,
                       bytes msg not None):
        """BIP340 verification of ``sig64`` over ``msg`` (any length) by a 32-byte x-only key."""
        cdef secp256k1_xonly_pubkey key
        cdef const unsigned char *kp = xonly_pubkey
        cdef const unsigned char *sp = sig64
        cdef const unsigned char *mp = msg
        cdef size_t mlen = len(msg)
        cdef int result
        if len(xonly_pubkey) != 32 or len(sig64) != 64:
            return False
        with nogil:
            result = self.calls.xonly_parse(self.calls.ctx, &key, kp)
            if result:
                result = self.calls.schnorr_verify(self.calls.ctx, sp, mp, mlen, &key)
        return bool(result)


cdef class WalkBatch:
    """A batch of signature *walks*, verified in C without the GIL.

    A walk is CHECKMULTISIG's loop (see ``script_templates.MultisigWalk``): the last signature
    against the last key first, a key that does not match is skipped, and the walk fails as soon
    as fewer keys than signatures remain. A P2WPKH input is the 1-of-1 walk. Running the whole
    walk here, instead of one comparison per round through Python, is what lets the block fast
    path hand every input to the worker threads in one piece. A comparison the signature cache
    vouches for (:meth:`mark_cached`, looked up by the filler, which holds the GIL) counts as a
    match without EC work, as a cache hit does in ``BlockScripts._queue``.

    Filled by one thread (``begin``/``push_key``/``push_sig``, or :meth:`add_walk`), then
    :meth:`seal`-ed and read-only: :meth:`run` on disjoint job ranges may then proceed on several
    threads at once. ``owner`` is the caller's tag for a job (its input's position).
    """

    def __cinit__(self):
        self.jobs = NULL
        self.keys = NULL
        self.sigs = NULL
        self.n_jobs = self.cap_jobs = self.n_keys = self.cap_keys = 0
        self.n_sigs = self.cap_sigs = 0
        self.sealed = False

    def __dealloc__(self):
        free(self.jobs)
        free(self.keys)
        free(self.sigs)

    cdef int begin(self, Py_ssize_t owner) except -1:
        cdef WalkJob *job
        if self.sealed:
            raise RuntimeError("a sealed WalkBatch cannot grow")
        if self.n_jobs == self.cap_jobs:
            self.jobs = <WalkJob *>_grow(self.jobs, &self.cap_jobs, sizeof(WalkJob))
        job = &self.jobs[self.n_jobs]
        job.owner = owner
        job.first_key = self.n_keys
        job.first_sig = self.n_sigs
        job.n_keys = 0
        job.n_sigs = 0
        job.checks = 0
        job.hits = 0
        job.ok = 0
        self.n_jobs += 1
        return 0

    cdef int push_key(self, const unsigned char *data, size_t size) except -1:
        if self.n_jobs == 0 or self.sealed:
            raise RuntimeError("push_key needs an open job")
        if size != 33 and size != 65:
            raise ValueError("a walk key is 33 or 65 bytes")
        if self.n_keys == self.cap_keys:
            self.keys = <WalkKey *>_grow(self.keys, &self.cap_keys, sizeof(WalkKey))
        memcpy(self.keys[self.n_keys].data, data, size)
        self.keys[self.n_keys].size = <unsigned char>size
        self.n_keys += 1
        self.jobs[self.n_jobs - 1].n_keys += 1
        return 0

    cdef int push_sig(self, const unsigned char *der, size_t size,
                      const unsigned char *msg32) except -1:
        if self.n_jobs == 0 or self.sealed:
            raise RuntimeError("push_sig needs an open job")
        if size > 72:
            raise ValueError("a walk signature is at most 72 bytes of DER")
        if self.n_sigs == self.cap_sigs:
            self.sigs = <WalkSig *>_grow(self.sigs, &self.cap_sigs, sizeof(WalkSig))
        memcpy(self.sigs[self.n_sigs].der, der, size)
        self.sigs[self.n_sigs].size = <unsigned char>size
        memcpy(self.sigs[self.n_sigs].msg, msg32, 32)
        self.sigs[self.n_sigs].cached = 0
        self.n_sigs += 1
        self.jobs[self.n_jobs - 1].n_sigs += 1
        return 0

    cdef int mark_cached(self, int key_index) except -1:
        """The last pushed signature is in the signature cache under key ``key_index`` of the
        open job (the caller looked it up): that comparison succeeds without verifying."""
        cdef WalkJob *job
        if self.n_jobs == 0 or self.sealed:
            raise RuntimeError("mark_cached needs an open job")
        job = &self.jobs[self.n_jobs - 1]
        if job.n_sigs == 0 or not 0 <= key_index < job.n_keys or key_index >= 32:
            raise ValueError("mark_cached needs a pushed signature and one of the job's keys")
        self.sigs[self.n_sigs - 1].cached |= 1u << key_index
        return 0

    def add_walk(self, Py_ssize_t owner, keys, sigs, cached=None):
        """Python entry (tests, tools): ``keys`` as bytes, ``sigs`` as (DER, digest) pairs in
        stack order, deepest first (as ``MultisigWalk`` takes them); ``cached`` (optional), per
        signature, the key indices the signature cache vouches for."""
        cdef bytes key, der, msg
        if len(sigs) > len(keys):
            raise ValueError("a walk has at most as many signatures as keys")
        for der, msg in sigs:
            if len(msg) != 32:
                raise ValueError("ECDSA verification needs a 32-byte message digest")
        if cached is not None and len(cached) != len(sigs):
            raise ValueError("cached needs one entry per signature")
        self.begin(owner)
        for key in keys:
            self.push_key(key, len(key))
        for i, (der, msg) in enumerate(sigs):
            self.push_sig(der, len(der), msg)
            if cached is not None:
                for k in cached[i]:
                    self.mark_cached(k)

    def seal(self):
        """No more jobs: from now on :meth:`run` may be called from several threads."""
        self.sealed = True

    def __len__(self):
        return self.n_jobs

    def run(self, Secp256k1 core not None, Py_ssize_t start=0, Py_ssize_t end=-1):
        """Run jobs ``start:end`` (default: all) with the GIL released; returns the number of
        signature checks made."""
        cdef Py_ssize_t i
        cdef long total = 0
        if not self.sealed:
            raise RuntimeError("seal() the batch before running it")
        if end < 0 or end > self.n_jobs:
            end = self.n_jobs
        if start < 0:
            start = 0
        with nogil:
            total = run_walks(&core.calls, self.jobs, self.keys, self.sigs, start, end)
        return total

    def failed_owners(self):
        """Owners of the jobs that failed (after :meth:`run` covered them), in job order."""
        cdef Py_ssize_t i
        return [self.jobs[i].owner for i in range(self.n_jobs) if not self.jobs[i].ok]

    def owners(self):
        cdef Py_ssize_t i
        return [self.jobs[i].owner for i in range(self.n_jobs)]

    @property
    def hits(self):
        """Comparisons the signature cache answered (part of :attr:`checks`)."""
        cdef Py_ssize_t i
        cdef long total = 0
        for i in range(self.n_jobs):
            total += self.jobs[i].hits
        return total

    @property
    def checks(self):
        """Signature checks made by the runs so far."""
        cdef Py_ssize_t i
        cdef long total = 0
        for i in range(self.n_jobs):
            total += self.jobs[i].checks
        return total


cdef void *_grow(void *data, Py_ssize_t *cap, size_t item) except NULL:
    cdef Py_ssize_t new_cap = cap[0] * 2 if cap[0] else 256
    cdef void *grown = realloc(data, new_cap * item)
    if grown == NULL:
        raise MemoryError()
    cap[0] = new_cap
    return grown


cdef int verify_check(const SecpCalls *calls, const Check *c) noexcept nogil:
    cdef secp256k1_pubkey key
    cdef secp256k1_ecdsa_signature sig
    cdef unsigned char compact[64]
    if not calls.pubkey_parse(calls.ctx, &key, c.pub, c.publen):
        return 0
    lax_der_to_compact(c.sig, c.siglen, compact)
    if not calls.parse_compact(calls.ctx, &sig, compact):
        return 0
    calls.normalize(calls.ctx, &sig, &sig)
    return 1 if calls.ecdsa_verify(calls.ctx, &sig, c.msg, &key) else 0


cdef long run_walks(const SecpCalls *calls, WalkJob *jobs, const WalkKey *keys,
                    const WalkSig *sigs, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t i
    cdef long total = 0
    for i in range(start, end):
        total += _run_walk(calls, &jobs[i], keys, sigs)
    return total


cdef int _run_walk(const SecpCalls *calls, WalkJob *job, const WalkKey *keys,
                   const WalkSig *sigs) noexcept nogil:
    """CHECKMULTISIG's walk for one job; sets ``job.ok`` and ``job.checks``."""
    cdef Check c
    cdef int sig_at = job.n_sigs - 1
    cdef int key_at = job.n_keys - 1
    cdef WalkKey *key
    cdef WalkSig *sig
    job.checks = 0
    job.hits = 0
    job.ok = 1
    while sig_at >= 0:
        key = <WalkKey *>&keys[job.first_key + key_at]  # read only (the cast drops const
        sig = <WalkSig *>&sigs[job.first_sig + sig_at]  # for Cython's temporaries)
        c.pub = key.data
        c.publen = key.size
        c.sig = sig.der
        c.siglen = sig.size
        c.msg = sig.msg
        job.checks += 1
        if sig.cached & (1u << key_at):
            job.hits += 1
            sig_at -= 1
        elif verify_check(calls, &c):
            sig_at -= 1
        key_at -= 1
        if sig_at > key_at:  # more signatures left than keys
            job.ok = 0
            break
    return job.checks


cdef void lax_der_to_compact(const unsigned char *sig, size_t n,
                             unsigned char *out) noexcept nogil:
    """Port of ``keys.parse_der_lax``: r||s into ``out``, or 64 zero bytes if unparseable."""
    cdef size_t pos = 0
    cdef size_t lenbyte
    cdef size_t length
    cdef size_t start[2]
    cdef size_t vlen[2]
    cdef int i
    memset(out, 0, 64)
    if pos == n or sig[pos] != 0x30:
        return
    pos += 1
    if pos == n:
        return
    lenbyte = sig[pos]
    pos += 1
    if lenbyte & 0x80:
        lenbyte -= 0x80
        if lenbyte > n - pos:
            return
        pos += lenbyte
    for i in range(2):
        if pos == n or sig[pos] != 0x02:
            return
        pos += 1
        if pos == n:
            return
        lenbyte = sig[pos]
        pos += 1
        if lenbyte & 0x80:
            lenbyte -= 0x80
            if lenbyte > n - pos:
                return
            while lenbyte > 0 and sig[pos] == 0:
                pos += 1
                lenbyte -= 1
            if lenbyte >= 8:
                return
            length = 0
            while lenbyte > 0:
                length = (length << 8) + sig[pos]
                pos += 1
                lenbyte -= 1
        else:
            length = lenbyte
        if length > n - pos:
            return
        start[i] = pos
        vlen[i] = length
        pos += length
    for i in range(2):
        while vlen[i] > 0 and sig[start[i]] == 0:
            start[i] += 1
            vlen[i] -= 1
        if vlen[i] > 32:
            memset(out, 0, 64)
            return
        memcpy(out + 32 * i + (32 - vlen[i]), sig + start[i], vlen[i])
