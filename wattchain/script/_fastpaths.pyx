# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled hot paths of block validation: BIP143 midstates and SIGHASH_ALL digests.

Why: in a full block of small SegWit spends, building each transaction's three BIP143
midstates and each input's preimage in Python (a dozen small ``bytes`` joins and hashlib calls
per input) costs more main-thread time than the elliptic-curve work it feeds. Here one call per
transaction and one per input do it in C, with a plain SHA-256 (FIPS 180-4) so no library is
needed beyond the C compiler.

Results must equal :mod:`wattchain.script.sighash` byte for byte; :mod:`wattchain.script.fastpaths`
falls back to that module when this one is not built or ``WATTCHAIN_PURE=1``, and the tests
compare both on random transactions.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cdef uint32_t K[64]
K[:] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]

cdef extern from "sha256_shani.h":
    int wc_sha256_shani_available() noexcept nogil
    void wc_sha256_shani(uint32_t *state, const uint8_t *data, size_t blocks) noexcept nogil

#: Whether this CPU has the SHA extensions (fixed for the life of the process).
cdef int HAVE_SHANI = wc_sha256_shani_available()


def sha256_implementation():
    """``"sha-ni"`` or ``"portable"``: which SHA-256 compression :func:`sha256d` uses here."""
    return "sha-ni" if HAVE_SHANI else "portable"


cdef inline void compress_blocks(uint32_t *state, const uint8_t *data, size_t blocks,
                                 bint portable) noexcept nogil:
    cdef size_t i
    if HAVE_SHANI and not portable:
        wc_sha256_shani(state, data, blocks)
        return
    for i in range(blocks):
        compress(state, data + 64 * i)


cdef inline uint32_t rotr(uint32_t x, int n) noexcept nogil:
    return (x >> n) | (x << (32 - n))


cdef void compress(uint32_t *state, const uint8_t *block) noexcept nogil:
    cdef uint32_t w[64]
    cdef uint32_t a, b, c, d, e, f, g, h, t1, t2, s0, s1
    cdef int i
    for i in range(16):
        w[i] = ((<uint32_t>block[4 * i] << 24) | (<uint32_t>block[4 * i + 1] << 16)
                | (<uint32_t>block[4 * i + 2] << 8) | <uint32_t>block[4 * i + 3])
    for i in range(16, 64):
        s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w[i] = w[i - 16] + s0 + w[i - 7] + s1
    a = state[0]; b = state[1]; c = state[2]; d = state[3]
    e = state[4]; f = state[5]; g = state[6]; h = state[7]
    for i in range(64):
        s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
        t1 = h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]
        s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c))
        h = g; g = f; f = e; e = d + t1
        d = c; c = b; b = a; a = t1 + t2
    state[0] += a; state[1] += b; state[2] += c; state[3] += d
    state[4] += e; state[5] += f; state[6] += g; state[7] += h


cdef void sha256(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil:
    sha256_with(data, n, out, False)


cdef void sha256_with(const uint8_t *data, size_t n, uint8_t *out, bint portable) noexcept nogil:
    cdef uint32_t state[8]
    cdef uint8_t tail[128]
    cdef size_t full = n - n % 64
    cdef size_t rest = n - full
    cdef size_t i, tail_len
    cdef uint64_t bits = (<uint64_t>n) * 8
    state[0] = 0x6a09e667; state[1] = 0xbb67ae85; state[2] = 0x3c6ef372; state[3] = 0xa54ff53a
    state[4] = 0x510e527f; state[5] = 0x9b05688c; state[6] = 0x1f83d9ab; state[7] = 0x5be0cd19
    if full:
        compress_blocks(state, data, full // 64, portable)
    memcpy(tail, data + full, rest)
    tail[rest] = 0x80
    tail_len = 64 if rest < 56 else 128
    for i in range(rest + 1, tail_len - 8):
        tail[i] = 0
    for i in range(8):
        tail[tail_len - 1 - i] = <uint8_t>(bits >> (8 * i))
    compress_blocks(state, tail, tail_len // 64, portable)
    for i in range(8):
        out[4 * i] = <uint8_t>(state[i] >> 24)
        out[4 * i + 1] = <uint8_t>(state[i] >> 16)
        out[4 * i + 2] = <uint8_t>(state[i] >> 8)
        out[4 * i + 3] = <uint8_t>state[i]


cdef void sha256d_into(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil:
    cdef uint8_t first[32]
    sha256(data, n, first)
    sha256(first, 32, out)


def sha256d(bytes data not None, bint portable=False):
    """Double SHA-256 (the tests hold it, with and without ``portable``, to ``hashlib``)."""
    cdef uint8_t out[32]
    cdef uint8_t first[32]
    sha256_with(<const uint8_t *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), first,
                portable)
    sha256_with(first, 32, out, portable)
    return PyBytes_FromStringAndSize(<char *>out, 32)


# ------------------------------------------------------------------------------ RIPEMD-160
# RIPEMD-160 (Dobbertin, Bosselaers, Preneel 1996) for HASH160 of P2WPKH keys: the message
# schedule, shift amounts and constants of the two parallel lines, as the specification lists them.
cdef uint8_t RL[80]
RL[:] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
         7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
         3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
         1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
         4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13]
cdef uint8_t RR[80]
RR[:] = [5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
         6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
         15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
         8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
         12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11]
cdef uint8_t SL[80]
SL[:] = [11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
         7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
         11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
         11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
         9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6]
cdef uint8_t SR[80]
SR[:] = [8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
         9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
         9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
         15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
         8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11]
cdef uint32_t KL[5]
KL[:] = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
cdef uint32_t KR[5]
KR[:] = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]


cdef inline uint32_t rotl(uint32_t x, int n) noexcept nogil:
    return (x << n) | (x >> (32 - n))


cdef inline uint32_t rmd_f(int j, uint32_t x, uint32_t y, uint32_t z) noexcept nogil:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


cdef void rmd_compress(uint32_t *h, const uint8_t *block) noexcept nogil:
    cdef uint32_t x[16]
    cdef uint32_t al, bl, cl, dl, el, ar, br, cr, dr, er, t
    cdef int j
    for j in range(16):
        x[j] = ((<uint32_t>block[4 * j]) | (<uint32_t>block[4 * j + 1] << 8)
                | (<uint32_t>block[4 * j + 2] << 16) | (<uint32_t>block[4 * j + 3] << 24))
    al = ar = h[0]; bl = br = h[1]; cl = cr = h[2]; dl = dr = h[3]; el = er = h[4]
    for j in range(80):
        t = rotl(al + rmd_f(j, bl, cl, dl) + x[RL[j]] + KL[j >> 4], SL[j]) + el
        al = el; el = dl; dl = rotl(cl, 10); cl = bl; bl = t
        t = rotl(ar + rmd_f(79 - j, br, cr, dr) + x[RR[j]] + KR[j >> 4], SR[j]) + er
        ar = er; er = dr; dr = rotl(cr, 10); cr = br; br = t
    t = h[1] + cl + dr
    h[1] = h[2] + dl + er
    h[2] = h[3] + el + ar
    h[3] = h[4] + al + br
    h[4] = h[0] + bl + cr
    h[0] = t


cdef void ripemd160(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil:
    cdef uint32_t h[5]
    cdef uint8_t tail[128]
    cdef size_t full = n - n % 64
    cdef size_t rest = n - full
    cdef size_t i, tail_len
    cdef uint64_t bits = (<uint64_t>n) * 8
    h[0] = 0x67452301; h[1] = 0xEFCDAB89; h[2] = 0x98BADCFE; h[3] = 0x10325476
    h[4] = 0xC3D2E1F0
    i = 0
    while i < full:
        rmd_compress(h, data + i)
        i += 64
    memcpy(tail, data + full, rest)
    tail[rest] = 0x80
    tail_len = 64 if rest < 56 else 128
    for i in range(rest + 1, tail_len - 8):
        tail[i] = 0
    for i in range(8):
        tail[tail_len - 8 + i] = <uint8_t>(bits >> (8 * i))
    rmd_compress(h, tail)
    if tail_len == 128:
        rmd_compress(h, tail + 64)
    for i in range(5):
        out[4 * i] = <uint8_t>h[i]
        out[4 * i + 1] = <uint8_t>(h[i] >> 8)
        out[4 * i + 2] = <uint8_t>(h[i] >> 16)
        out[4 * i + 3] = <uint8_t>(h[i] >> 24)


cdef void hash160_into(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil:
    cdef uint8_t first[32]
    sha256(data, n, first)
    ripemd160(first, 32, out)


def hash160(bytes data not None):
    """RIPEMD-160 of SHA-256 (the tests hold it to ``wattchain.core.hashes.hash160``)."""
    cdef uint8_t out[20]
    hash160_into(<const uint8_t *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), out)
    return PyBytes_FromStringAndSize(<char *>out, 20)


# ------------------------------------------------------------------------------ a byte buffer
cdef struct Buf:
    uint8_t *data
    size_t size
    size_t cap


cdef int buf_reserve(Buf *b, size_t more) except -1:
    cdef size_t cap
    cdef uint8_t *grown
    if b.size + more <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 256
    while cap < b.size + more:
        cap *= 2
    grown = <uint8_t *>malloc(cap)
    if grown == NULL:
        raise MemoryError()
    if b.size:
        memcpy(grown, b.data, b.size)
    free(b.data)
    b.data = grown
    b.cap = cap
    return 0


cdef int put(Buf *b, const void *src, size_t n) except -1:
    buf_reserve(b, n)
    memcpy(b.data + b.size, src, n)
    b.size += n
    return 0


cdef int put_le(Buf *b, uint64_t v, int width) except -1:
    cdef int i
    buf_reserve(b, width)
    for i in range(width):
        b.data[b.size + i] = <uint8_t>(v >> (8 * i))
    b.size += width
    return 0


cdef int put_u32(Buf *b, object value) except -1:
    """A Python int as the unsigned 32-bit little-endian field ``struct.pack('<I')`` writes;
    out of range is the same ``struct.error`` class of failure (OverflowError here)."""
    cdef long long v = value
    if v < 0 or v > 0xFFFFFFFF:
        raise OverflowError("u32 field out of range")
    return put_le(b, <uint64_t>v, 4)


cdef int put_i64(Buf *b, object value) except -1:
    cdef int64_t v = value
    return put_le(b, <uint64_t>v, 8)


cdef int put_compact(Buf *b, size_t n) except -1:
    cdef uint8_t tag
    if n < 0xFD:
        return put_le(b, n, 1)
    if n <= 0xFFFF:
        tag = 0xFD
        put(b, &tag, 1)
        return put_le(b, n, 2)
    if n <= 0xFFFFFFFF:
        tag = 0xFE
        put(b, &tag, 1)
        return put_le(b, n, 4)
    tag = 0xFF
    put(b, &tag, 1)
    return put_le(b, n, 8)


cdef int put_bytes(Buf *b, bytes data) except -1:
    return put(b, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef bytes finish_sha256d(Buf *b):
    cdef uint8_t out[32]
    sha256d_into(b.data, b.size, out)
    return PyBytes_FromStringAndSize(<char *>out, 32)


# ------------------------------------------------------------------------------ BIP143
def bip143_midstates(tx):
    """(hashPrevouts, hashSequence, hashOutputs) of ``tx``, as
    :class:`~wattchain.script.sighash.PrecomputedTransactionData` computes them."""
    cdef Buf b
    cdef bytes prevouts, sequences, outputs
    b.data = NULL
    b.size = 0
    b.cap = 0
    try:
        for txin in tx.inputs:
            prevout = txin.prevout
            put_bytes(&b, prevout.txid)
            put_u32(&b, prevout.index)
        prevouts = finish_sha256d(&b)
        b.size = 0
        for txin in tx.inputs:
            put_u32(&b, txin.sequence)
        sequences = finish_sha256d(&b)
        b.size = 0
        for out in tx.outputs:
            put_i64(&b, out.value)
            script = <bytes?>out.script_pubkey
            put_compact(&b, PyBytes_GET_SIZE(script))
            put_bytes(&b, script)
        outputs = finish_sha256d(&b)
        return prevouts, sequences, outputs
    finally:
        free(b.data)


def bip143_digest(tx, Py_ssize_t index, bytes script_code not None, amount, uint32_t hash_type,
                  bytes hash_prevouts not None, bytes hash_sequence not None,
                  bytes hash_outputs not None):
    """The BIP143 digest of input ``index`` given the three midstate fields exactly as they
    enter the preimage (the caller zeroes them for ANYONECANPAY/NONE/SINGLE)."""
    cdef Buf b
    b.data = NULL
    b.size = 0
    b.cap = 0
    txin = tx.inputs[index]
    prevout = txin.prevout
    try:
        put_u32(&b, tx.version)
        put_bytes(&b, hash_prevouts)
        put_bytes(&b, hash_sequence)
        put_bytes(&b, prevout.txid)
        put_u32(&b, prevout.index)
        put_compact(&b, PyBytes_GET_SIZE(script_code))
        put_bytes(&b, script_code)
        put_i64(&b, amount)
        put_u32(&b, txin.sequence)
        put_bytes(&b, hash_outputs)
        put_u32(&b, tx.locktime)
        put_le(&b, hash_type, 4)
        return finish_sha256d(&b)
    finally:
        free(b.data)
