# Byte-level rules of the block fast path (wattchain/consensus/_connect_fast.pyx), as inline C
# functions: Core's sigop counter, BIP66 strict DER, the multisig template's shape and the
# little-endian/CompactSize writers of the BIP143 preimage. Each mirrors a Python function
# named in its docstring; the fast path's differential tests hold them to it.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t
from libc.string cimport memchr, memcpy

DEF SIGHASH_ALL = 1
DEF OP_CREATE = 0xC1
DEF OP_CALL = 0xC2


cdef inline long count_sigops(const uint8_t *s, Py_ssize_t n, bint accurate) noexcept:
    """``script.count_sigops`` (Core's GetSigOpCount) over raw bytes."""
    cdef long count = 0
    cdef int last = 0xFF
    cdef Py_ssize_t pos = 0
    cdef size_t size
    cdef int code
    while pos < n:
        code = s[pos]
        pos += 1
        if code <= 0x4E:
            if code < 0x4C:
                size = code
            elif code == 0x4C:
                if pos + 1 > n:
                    break
                size = s[pos]
                pos += 1
            elif code == 0x4D:
                if pos + 2 > n:
                    break
                size = s[pos] | (<size_t>s[pos + 1] << 8)
                pos += 2
            else:
                if pos + 4 > n:
                    break
                size = (s[pos] | (<size_t>s[pos + 1] << 8) | (<size_t>s[pos + 2] << 16)
                        | (<size_t>s[pos + 3] << 24))
                pos += 4
            if size > <size_t>(n - pos):
                break
            pos += size
        elif code == 0xAC or code == 0xAD:
            count += 1
        elif code == 0xAE or code == 0xAF:
            if accurate and 0x51 <= last <= 0x60:
                count += last - 0x50
            else:
                count += 20
        last = code
    return count


cdef inline bint strict_der(const uint8_t *sig, Py_ssize_t size) noexcept:
    """``signature_encoding.is_strict_der`` (BIP66), hash-type byte included."""
    cdef Py_ssize_t len_r, len_s, s_at
    if size < 9 or size > 73:
        return False
    if sig[0] != 0x30 or sig[1] != size - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= size:
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != size:
        return False
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    s_at = len_r + 6
    if sig[s_at - 2] != 0x02 or len_s == 0 or sig[s_at] & 0x80:
        return False
    if len_s > 1 and sig[s_at] == 0x00 and not sig[s_at + 1] & 0x80:
        return False
    return True


cdef inline bint sig_ok(bytes sig) noexcept:
    """A signature the templates verify directly: strict DER and SIGHASH_ALL."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(sig)
    cdef const uint8_t *p = <const uint8_t *>PyBytes_AS_STRING(sig)
    return n > 0 and p[n - 1] == SIGHASH_ALL and strict_der(p, n)


cdef inline int multisig_shape(bytes script, int *m) noexcept:
    """``script_templates._multisig``: the key count of ``OP_m <33|65-byte keys> OP_n
    OP_CHECKMULTISIG`` (1 <= m <= n <= 16), else 0."""
    cdef const uint8_t *s = <const uint8_t *>PyBytes_AS_STRING(script)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(script)
    cdef Py_ssize_t pos = 1
    cdef int keys = 0, n_keys, size
    if n < 37 or s[n - 1] != 0xAE:
        return 0
    m[0] = <int>s[0] - 0x50
    n_keys = <int>s[n - 2] - 0x50
    if not (1 <= m[0] <= n_keys <= 16):
        return 0
    while pos < n - 2:
        size = s[pos]
        if (size != 33 and size != 65) or pos + 1 + size > n - 2:
            return 0
        keys += 1
        pos += 1 + size
    return n_keys if keys == n_keys else 0


cdef inline void put_le(uint8_t *p, unsigned long long v, int width) noexcept:
    cdef int i
    for i in range(width):
        p[i] = <uint8_t>(v >> (8 * i))


cdef inline int compact_size_len(unsigned long long n) noexcept:
    """Bytes of ``serialization.compact_size(n)``."""
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5 if n <= 0xFFFFFFFF else 9


cdef inline Py_ssize_t put_compact(uint8_t *p, unsigned long long n) noexcept:
    """``serialization.compact_size(n)`` into ``p``; its length."""
    cdef int size = compact_size_len(n)
    if size == 1:
        p[0] = <uint8_t>n
        return 1
    p[0] = 0xFD if size == 3 else 0xFE if size == 5 else 0xFF
    put_le(p + 1, n, size - 1)
    return size


cdef inline bint may_be_contract(const uint8_t *p, Py_ssize_t n) noexcept:
    """False when ``contracts.script.is_contract_script`` returns False before parsing: no
    OP_CREATE/OP_CALL byte anywhere, or OP_0 and one 20/32-byte push (P2WPKH/P2WSH)."""
    if memchr(p, OP_CREATE, n) == NULL and memchr(p, OP_CALL, n) == NULL:
        return False
    return not ((n == 22 or n == 34) and p[0] == 0 and p[1] == n - 2)


cdef inline Py_ssize_t sigcache_preimage(uint8_t *buf, bytes salt, const uint8_t *msg,
                                         const uint8_t *pub, Py_ssize_t pub_len,
                                         const uint8_t *der, Py_ssize_t der_len) noexcept:
    """``SignatureCache._key``'s hash input into ``buf`` (room for len(salt) + 32 + 2 +
    pub_len + der_len): salt || msg32 || len(pub) as 2 LE bytes || pub || der; its length."""
    cdef Py_ssize_t pos = PyBytes_GET_SIZE(salt)
    memcpy(buf, PyBytes_AS_STRING(salt), pos)
    memcpy(buf + pos, msg, 32)
    pos += 32
    put_le(buf + pos, <unsigned long long>pub_len, 2)
    pos += 2
    memcpy(buf + pos, pub, pub_len)
    pos += pub_len
    memcpy(buf + pos, der, der_len)
    return pos + der_len
