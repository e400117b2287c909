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
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

ctypedef struct secp256k1_pubkey:
    unsigned char data[64]

ctypedef struct secp256k1_ecdsa_signature:
    unsigned char data[64]

ctypedef struct secp256k1_xonly_pubkey:
    unsigned char data[64]

ctypedef int (*pubkey_parse_t)(const void *ctx, secp256k1_pubkey *pubkey,
                               const unsigned char *data, size_t length) noexcept nogil
ctypedef int (*sig_parse_compact_t)(const void *ctx, secp256k1_ecdsa_signature *sig,
                                    const unsigned char *input64) noexcept nogil
ctypedef int (*sig_normalize_t)(const void *ctx, secp256k1_ecdsa_signature *sigout,
                                const secp256k1_ecdsa_signature *sigin) noexcept nogil
ctypedef int (*ecdsa_verify_t)(const void *ctx, const secp256k1_ecdsa_signature *sig,
                               const unsigned char *msg32,
                               const secp256k1_pubkey *pubkey) noexcept nogil
ctypedef int (*xonly_parse_t)(const void *ctx, secp256k1_xonly_pubkey *pubkey,
                              const unsigned char *input32) noexcept nogil
ctypedef int (*schnorr_verify_t)(const void *ctx, const unsigned char *sig64,
                                 const unsigned char *msg, size_t msglen,
                                 const secp256k1_xonly_pubkey *pubkey) noexcept nogil

ctypedef struct Check:
    const unsigned char *pub
    size_t publen
    const unsigned char *sig
    size_t siglen
    const unsigned char *msg


cdef class Secp256k1:
    """The bound libsecp256k1 entry points and context (immutable once made)."""

    cdef const void *ctx
    cdef pubkey_parse_t pubkey_parse
    cdef sig_parse_compact_t parse_compact
    cdef sig_normalize_t normalize
    cdef ecdsa_verify_t ecdsa_verify
    cdef xonly_parse_t xonly_parse
    cdef schnorr_verify_t schnorr_verify

    def __cinit__(self, uintptr_t ctx, uintptr_t pubkey_parse, uintptr_t parse_compact,
                  uintptr_t normalize, uintptr_t ecdsa_verify, uintptr_t xonly_parse,
                  uintptr_t schnorr_verify):
        if not (ctx and pubkey_parse and parse_compact and normalize and ecdsa_verify
                and xonly_parse and schnorr_verify):
            raise ValueError("libsecp256k1 context and function addresses must be non-null")
        self.ctx = <const void *>ctx
        self.pubkey_parse = <pubkey_parse_t>pubkey_parse
        self.parse_compact = <sig_parse_compact_t>parse_compact
        self.normalize = <sig_normalize_t>normalize
        self.ecdsa_verify = <ecdsa_verify_t>ecdsa_verify
        self.xonly_parse = <xonly_parse_t>xonly_parse
        self.schnorr_verify = <schnorr_verify_t>schnorr_verify

    cdef int _verify_one(self, const Check *c) noexcept nogil:
        cdef secp256k1_pubkey key
        cdef secp256k1_ecdsa_signature sig
        cdef unsigned char compact[64]
        if not self.pubkey_parse(self.ctx, &key, c.pub, c.publen):
            return 0
        lax_der_to_compact(c.sig, c.siglen, compact)
        if not self.parse_compact(self.ctx, &sig, compact):
            return 0
        self.normalize(self.ctx, &sig, &sig)
        return 1 if self.ecdsa_verify(self.ctx, &sig, c.msg, &key) else 0

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
            result = self.xonly_parse(self.ctx, &key, kp)
            if result:
                result = self.schnorr_verify(self.ctx, sp, mp, mlen, &key)
        return bool(result)


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
