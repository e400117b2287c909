# Hash primitives of _fastpaths.pyx shared with other compiled modules (cimport), so the block
# fast path (wattchain/consensus/_connect_fast.pyx) hashes without a Python call per digest.
from libc.stdint cimport uint8_t

cdef void sha256(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil
cdef void sha256d_into(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil
cdef void ripemd160(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil
cdef void hash160_into(const uint8_t *data, size_t n, uint8_t *out) noexcept nogil
