# Declarations of _sigcore.pyx shared with other compiled modules (cimport): the bound
# libsecp256k1 core and the C-level batch of CHECKMULTISIG-style walks the block fast path
# (wattchain/consensus/_connect_fast.pyx) fills without a Python call per signature.

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

#: A walk's key: compressed or uncompressed encoding, copied.
ctypedef struct WalkKey:
    unsigned char data[65]
    unsigned char size

#: A walk's signature: DER without the hash type (strict DER: at most 72 bytes) and its digest;
#: ``cached`` has bit j set when the signature cache vouches for it under the job's key j.
ctypedef struct WalkSig:
    unsigned char der[72]
    unsigned char size
    unsigned char msg[32]
    unsigned int cached

ctypedef struct WalkJob:
    Py_ssize_t owner
    Py_ssize_t first_key
    Py_ssize_t first_sig
    int n_keys
    int n_sigs
    int checks
    int hits
    unsigned char ok


#: The bound libsecp256k1 context and entry points as plain C data, so threads that never hold
#: the GIL (``_walk_queue``) can verify without touching a Python object.
ctypedef struct SecpCalls:
    const void *ctx
    pubkey_parse_t pubkey_parse
    sig_parse_compact_t parse_compact
    sig_normalize_t normalize
    ecdsa_verify_t ecdsa_verify
    xonly_parse_t xonly_parse
    schnorr_verify_t schnorr_verify


cdef class Secp256k1:
    cdef SecpCalls calls

    cdef int _verify_one(self, const Check *c) noexcept nogil


cdef class WalkBatch:
    cdef WalkJob *jobs
    cdef WalkKey *keys
    cdef WalkSig *sigs
    cdef Py_ssize_t n_jobs, cap_jobs, n_keys, cap_keys, n_sigs, cap_sigs
    cdef bint sealed

    cdef int begin(self, Py_ssize_t owner) except -1
    cdef int push_key(self, const unsigned char *data, size_t size) except -1
    cdef int push_sig(self, const unsigned char *der, size_t size,
                      const unsigned char *msg32) except -1
    cdef int mark_cached(self, int key_index) except -1


#: One Bitcoin-consensus ECDSA check (lax DER, low-S normalised), 1 if valid.
cdef int verify_check(const SecpCalls *calls, const Check *c) noexcept nogil

#: Jobs ``start:end`` of a sealed batch's arrays; the signature checks made.
cdef long run_walks(const SecpCalls *calls, WalkJob *jobs, const WalkKey *keys,
                    const WalkSig *sigs, Py_ssize_t start, Py_ssize_t end) noexcept nogil
