# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled per-transaction loop of ``connect_block`` for the common transaction shapes.

Why: a full block of small SegWit spends costs ~20 us of interpreted Python per transaction
in rules and bookkeeping around ~47 us of elliptic-curve work; on two cores that Python, not the
EC math, sets the pace. This module runs :func:`wattchain.consensus.connect._connect_tx`'s work
in C for a transaction whose inputs all spend native P2WPKH / P2WSH coins with an empty
scriptSig and no BIP68 lock: the coins-cache lookups, spends and adds (the very same
``CoinsViewCache`` entries, flags and usage accounting), the input rules, the sigop cost, the
undo data, and, for P2WPKH and P2WSH m-of-n multisig with SIGHASH_ALL, the BIP143 digests and
whole CHECKMULTISIG walks handed to a compiled ``WalkBatch``. Worker threads verify each batch
without the GIL (``wattchain/script/_walk_queue.pyx``) while this loop goes on. The loop holds
the GIL throughout, and the workers never need it.

Signature cache: consulted as ``BlockScripts._queue`` consults it (a hit is a successful
comparison, nothing is added during block validation). A P2WPKH hit skips the walk; for a
multisig walk every (signature, key) pair the walk can reach is looked up here, under the GIL,
and marked in the walk (``WalkBatch.mark_cached``). Keys are derived in C exactly as
``SignatureCache._key`` does (for a plain ``SignatureCache``; anything else is asked through
its ``contains``).

Exactness: a transaction is first examined without changing anything; any rule it would break,
any shape or field outside what is modelled here, sends it to the Python reference
(``fallback``), which then raises the exact error or does the work. Script checks that are not
modelled go to ``BlockScripts.add`` as before. A failed walk is settled by the interpreter in
``BlockScripts.finish`` (same reason, same first failing input).

Contract outputs: a transaction this loop connects whose outputs all pass the first two tests
of ``contracts.script.is_contract_script`` (no byte 0xc1/0xc2, or the P2WPKH/P2WSH shape) is
flagged in ``totals.contract_free``, and ``find_contract_transactions`` skips it.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.string cimport memcmp, memcpy

from wattchain.consensus._fast_bytes cimport (count_sigops, may_be_contract, multisig_shape,
                                              put_compact, put_le, sig_ok, sigcache_preimage)
from wattchain.core._fast_slots cimport (CoinSlots, TxSlots, get_slot, load_coin_slots,
                                         load_tx_slots, new_acyclic, set_slot, untracked)
from wattchain.script._fastpaths cimport hash160_into, sha256, sha256d_into
from wattchain.script._sigcore cimport WalkBatch

from wattchain.consensus.coins import (_ENTRY_OVERHEAD, CacheInconsistencyError, Coin,
                                      CoinsViewCache, _Entry)
from wattchain.consensus.errors import BlockValidationError
from wattchain.core.tx import OutPoint, TxIn, TxOut
from wattchain.script.sigcache import SignatureCache

DEF MAX_INPUTS = 16          # larger transactions take the Python path
DEF MAX_OUT_BYTES = 4096     # serialized outputs hashed fast (larger: BlockScripts.add)
DEF BUF_SIZE = 4352          # >= MAX_OUT_BYTES, >= 16 * 36, >= the largest preimage
DEF MAX_SCRIPT = 10000       # scripts above this are unspendable
DEF SIGHASH_ALL = 1
DEF DISABLE_FLAG = 0x80000000
DEF FIRST_WALKS = 32         # the first walk batch is small so the workers start early
DEF WALKS = 256              # jobs per later batch (the queue splits batches into pieces)
DEF MAX_SALT = 64            # longer salts: keys are derived by SignatureCache.contains
DEF KEY_BUF = 256            # >= MAX_SALT + 32 + 2 + 65 + 72 (sigcache key preimage)

cdef long OVERHEAD = _ENTRY_OVERHEAD
cdef object CacheType = CoinsViewCache
# Slot offsets (see _fast_slots.pxd): read only after an exact type check.
cdef object TxInType = TxIn, TxOutType = TxOut, OutPointType = OutPoint
cdef object CoinType = Coin, EntryType = _Entry
cdef TxSlots TX
load_tx_slots(&TX, TxIn, TxOut, OutPoint)
cdef CoinSlots CS
load_coin_slots(&CS, Coin, _Entry)


cdef inline object entry_of(object entry):
    """``entry``, checked to be a cache ``_Entry`` (the only kind a cache holds) before its
    slots are touched."""
    if type(entry) is not EntryType:
        raise TypeError(f"coins cache entry of type {type(entry).__name__}")
    return entry


# ------------------------------------------------------------------------------ objects
cdef inline object new_entry(object coin, bint dirty, bint fresh):
    """``coins._Entry(coin, dirty, fresh)`` without running its Python ``__init__``."""
    entry = new_acyclic(_Entry)
    set_slot(entry, CS.entry_coin, coin)
    set_slot(entry, CS.entry_dirty, True if dirty else False)
    set_slot(entry, CS.entry_fresh, True if fresh else False)
    return entry


cdef inline object new_coin(object output, object height):
    """``Coin(output, height, False, False)``; the frozen dataclass's fields are set the way
    its generated ``__init__`` does (object.__setattr__)."""
    coin = new_acyclic(Coin)
    set_slot(coin, CS.coin_output, output)
    set_slot(coin, CS.coin_height, height)
    set_slot(coin, CS.coin_coinbase, False)
    set_slot(coin, CS.coin_coinstake, False)
    return coin


cdef inline object new_outpoint(object txid, object index):
    outpoint = new_acyclic(OutPoint)
    set_slot(outpoint, TX.outpoint_txid, txid)
    set_slot(outpoint, TX.outpoint_index, index)
    return outpoint


cdef object fetch(object cache, tuple key):
    """``CoinsViewCache._fetch_key``: the entry for ``key`` pulled from below (every cache
    layer that missed keeps a clean copy), or None."""
    cdef list missed = [cache]
    layer = cache.base
    while type(layer) is CacheType:
        entry = (<dict>layer._entries).get(key)
        if entry is not None:
            coin = entry.coin
            break
        missed.append(layer)
        layer = layer.base
    else:
        coin = layer.get_coin(new_outpoint(key[0], key[1]))
    if coin is None:
        return None
    usage = OVERHEAD + len(coin.output.script_pubkey)
    for layer in reversed(missed):
        entry = new_entry(coin, False, False)
        layer._entries[key] = entry
        layer._usage += usage
    return entry


# ------------------------------------------------------------------------------ the loop
cdef class _Loop:
    """One block's loop state (counters mirrored into ``totals`` around every fallback)."""

    cdef object cache, height_obj, scripts, sigcache, fallback, totals, stats
    cdef dict entries, sig_entries
    cdef bytes salt
    cdef bint c_keys
    cdef list tx_undo, script_inputs
    cdef long height, maturity, max_sigops, sigops
    cdef int64_t max_money, fees
    cdef long fast_inputs, cache_hits
    cdef WalkBatch walks
    cdef bint walkable
    # per transaction, phase 1 -> phase 2
    cdef uint32_t seqs[MAX_INPUTS]
    cdef int kinds[MAX_INPUTS]
    cdef int msig_m[MAX_INPUTS]

    cdef int run_tx(self, object tx) except -1:
        """Connect ``tx`` (not a coinbase or coinstake) and return 2 if no output may be a
        contract output (see ``may_be_contract``), else 1; or return 0 having changed nothing
        the Python path would not (it then handles ``tx``)."""
        cdef tuple inputs, outputs
        cdef Py_ssize_t n_in, n_out, i, j, n
        cdef int64_t value, value_in = 0, value_out = 0, fee
        cdef long witness_sigops = 0, legacy = 0, cost, delta = 0
        cdef long long version, locktime, seq, coin_height
        cdef const uint8_t *p
        cdef bint scriptable = self.walkable
        cdef bint contract_free = True
        cdef Py_ssize_t out_bytes = 0
        cdef uint8_t h[32]
        cdef list keys = [], entries = [], coins = []
        if type(tx.inputs) is not tuple or type(tx.outputs) is not tuple:
            return 0  # only hand-built objects: the Python path copes with them
        inputs = tx.inputs
        outputs = tx.outputs
        n_in = len(inputs)
        n_out = len(outputs)
        if n_in == 0 or n_in > MAX_INPUTS or type(tx.version) is not int or (
                type(tx.locktime) is not int):
            return 0
        version = tx.version
        locktime = tx.locktime
        if not (0 <= version <= 0xFFFFFFFF and 0 <= locktime <= 0xFFFFFFFF):
            return 0
        # ---- phase 1: look, do not touch
        for i in range(n_in):
            txin = inputs[i]
            if type(txin) is not TxInType:
                return 0
            script_sig = get_slot(txin, TX.in_script_sig)
            if type(script_sig) is not bytes or PyBytes_GET_SIZE(script_sig) != 0:
                return 0
            sequence = get_slot(txin, TX.in_sequence)
            if type(sequence) is not int:
                return 0
            seq = sequence
            if not 0 <= seq <= 0xFFFFFFFF or (version >= 2 and not seq & DISABLE_FLAG):
                return 0  # BIP68 may apply: the Python path computes the locks
            self.seqs[i] = <uint32_t>seq
            prevout = get_slot(txin, TX.in_prevout)
            if type(prevout) is not OutPointType:
                return 0
            txid = get_slot(prevout, TX.outpoint_txid)
            index = get_slot(prevout, TX.outpoint_index)
            if type(txid) is not bytes or PyBytes_GET_SIZE(txid) != 32 or type(index) is not int:
                return 0
            if not 0 <= index <= 0xFFFFFFFF:
                return 0
            key = untracked((txid, index))  # may become a cache key (fetch)
            for j in range(i):
                if keys[j] == key:
                    return 0
            entry = self.entries.get(key)
            if entry is None:
                entry = fetch(self.cache, key)
                if entry is None:
                    return 0
            coin = get_slot(entry_of(entry), CS.entry_coin)
            if coin is None or type(coin) is not CoinType:
                return 0
            coin_height = get_slot(coin, CS.coin_height)
            if (get_slot(coin, CS.coin_coinbase) or get_slot(coin, CS.coin_coinstake)) and not (
                    coin_height == 0 or self.height - coin_height >= self.maturity):
                return 0
            out = get_slot(coin, CS.coin_output)
            if type(out) is not TxOutType:
                return 0
            pyvalue = get_slot(out, TX.out_value)
            if type(pyvalue) is not int:
                return 0
            if not 0 <= pyvalue <= self.max_money:
                return 0
            value = pyvalue
            value_in += value
            if value_in > self.max_money:
                return 0
            spk = get_slot(out, TX.out_script)
            if type(spk) is not bytes:
                return 0
            p = <const uint8_t *>PyBytes_AS_STRING(spk)
            n = PyBytes_GET_SIZE(spk)
            witness = get_slot(txin, TX.in_witness)
            if type(witness) is not tuple:
                return 0
            if n == 22 and p[0] == 0 and p[1] == 20:
                self.kinds[i] = 1
                witness_sigops += 1
            elif n == 34 and p[0] == 0 and p[1] == 32:
                self.kinds[i] = 2
                if len(witness):
                    last = witness[len(witness) - 1]
                    if type(last) is not bytes:
                        return 0
                    witness_sigops += count_sigops(<const uint8_t *>PyBytes_AS_STRING(last),
                                                   PyBytes_GET_SIZE(last), True)
            else:
                return 0
            if scriptable:
                scriptable = self.shape_ok(i, p, witness)
            keys.append(key)
            entries.append(entry)
            coins.append(coin)
        for i in range(n_out):
            out = outputs[i]
            if type(out) is not TxOutType:
                return 0
            spk = get_slot(out, TX.out_script)
            pyvalue = get_slot(out, TX.out_value)
            if type(pyvalue) is not int or type(spk) is not bytes:
                return 0
            if not 0 <= pyvalue <= self.max_money:
                return 0
            value_out += <int64_t>pyvalue
            if value_out > self.max_money:
                return 0
            n = PyBytes_GET_SIZE(spk)
            p = <const uint8_t *>PyBytes_AS_STRING(spk)
            legacy += count_sigops(p, n, False)
            if contract_free and may_be_contract(p, n):
                contract_free = False
            out_bytes += 11 + n
        if value_in < value_out:
            return 0
        fee = value_in - value_out
        if self.fees + fee > self.max_money:
            return 0
        cost = legacy * 4 + witness_sigops
        if self.sigops + cost > self.max_sigops:
            return 0
        if out_bytes > MAX_OUT_BYTES:  # hashOutputs is built on the stack: see emit
            scriptable = False
        # ---- phase 2: spend, add, account
        for i in range(n_in):
            entry = entries[i]
            n = PyBytes_GET_SIZE(get_slot(get_slot(coins[i], CS.coin_output), TX.out_script))
            if get_slot(entry, CS.entry_fresh):
                del self.entries[keys[i]]
                delta -= OVERHEAD + n
            else:
                set_slot(entry, CS.entry_coin, None)
                set_slot(entry, CS.entry_dirty, True)
                delta -= n
        self.cache._usage += delta
        self.add_outputs(tx, outputs)
        self.fees += fee
        self.sigops += cost
        self.tx_undo.append(untracked(tuple(coins)))  # coins are acyclic
        if self.scripts is not None:
            if scriptable:
                self.emit(tx, inputs, outputs, coins, version, locktime)
            else:
                self.scripts.add(tx, coins)
        return 2 if contract_free else 1

    cdef int add_outputs(self, object tx, tuple outputs) except -1:
        """``connect._add_outputs`` for a non-coinbase, non-coinstake transaction: its txid is
        unique, so only this view is consulted (``CoinsViewCache.add_outputs``)."""
        cdef Py_ssize_t i, n
        cdef long delta = 0
        cdef const uint8_t *p
        txid = tx.txid
        for i in range(len(outputs)):
            out = outputs[i]
            spk = get_slot(out, TX.out_script)  # outputs were type-checked by run_tx
            n = PyBytes_GET_SIZE(spk)
            p = <const uint8_t *>PyBytes_AS_STRING(spk)
            if (n > 0 and p[0] == 0x6A) or n > MAX_SCRIPT:
                continue
            key = untracked((txid, i))  # a cache key for as long as the coin lives
            entry = self.entries.get(key)
            coin = new_coin(out, self.height_obj)
            if entry is None:
                self.entries[key] = new_entry(coin, True, True)
                delta += OVERHEAD + n
            elif get_slot(entry_of(entry), CS.entry_coin) is not None:
                self.cache._usage += delta
                raise BlockValidationError("bad-txns-BIP30",
                                           f"tried to overwrite transaction {tx.txid_hex}")
            else:
                delta += n
                set_slot(entry, CS.entry_coin, coin)
                set_slot(entry, CS.entry_dirty, True)
        self.cache._usage += delta
        return 0

    cdef bint shape_ok(self, Py_ssize_t i, const uint8_t *spk, tuple witness) except -1:
        """Whether input ``i``'s checks are a template this module emits (``script_templates``
        decides exactly the same way; anything else goes to ``BlockScripts.add``)."""
        cdef uint8_t h[32]
        cdef Py_ssize_t k, n_items = len(witness)
        cdef int m = 0
        cdef const uint8_t *program = spk + 2
        if self.kinds[i] == 1:
            if n_items != 2:
                return False
            sig = witness[0]
            pub = witness[1]
            if type(sig) is not bytes or type(pub) is not bytes or not sig_ok(sig):
                return False
            if PyBytes_GET_SIZE(pub) != 33 and PyBytes_GET_SIZE(pub) != 65:
                return False
            for k in range(20):
                if program[k]:
                    break
            else:
                return False
            hash160_into(<const uint8_t *>PyBytes_AS_STRING(pub), PyBytes_GET_SIZE(pub), h)
            return memcmp(h, program, 20) == 0
        if n_items < 2:
            return False
        for k in range(32):
            if program[k]:
                break
        else:
            return False
        script = witness[n_items - 1]
        if type(script) is not bytes:
            return False
        sha256(<const uint8_t *>PyBytes_AS_STRING(script), PyBytes_GET_SIZE(script), h)
        if memcmp(h, program, 32) != 0:
            return False
        if multisig_shape(script, &m) == 0 or n_items != m + 2:
            return False
        dummy = witness[0]
        if type(dummy) is not bytes or PyBytes_GET_SIZE(dummy) != 0:
            return False
        for k in range(1, m + 1):
            sig = witness[k]
            if type(sig) is not bytes or not sig_ok(sig):
                return False
        self.msig_m[i] = m
        return True

    cdef bint cached(self, const uint8_t *msg, const uint8_t *pub, Py_ssize_t pub_len,
                     const uint8_t *der, Py_ssize_t der_len) except -1:
        """``self.sigcache.contains(msg, pub, der)``; for a plain ``SignatureCache`` the key
        ``sha256(salt || msg || len(pub) as 2 LE bytes || pub || der)`` is derived here."""
        cdef uint8_t buf[KEY_BUF]
        cdef uint8_t h[32]
        if not self.c_keys:
            return bool(self.sigcache.contains((<const char *>msg)[:32],
                                               (<const char *>pub)[:pub_len],
                                               (<const char *>der)[:der_len]))
        sha256(buf, sigcache_preimage(buf, self.salt, msg, pub, pub_len, der, der_len), h)
        return PyBytes_FromStringAndSize(<const char *>h, 32) in self.sig_entries

    cdef int emit(self, object tx, tuple inputs, tuple outputs, list coins, long long version,
                  long long locktime) except -1:
        """BIP143 SIGHASH_ALL digests and walks for every input of ``tx``."""
        cdef uint8_t buf[BUF_SIZE]  # outputs (<= MAX_OUT_BYTES) or one preimage (< 1300)
        cdef uint8_t mid[96]   # hashPrevouts | hashSequence | hashOutputs
        cdef uint8_t digest[32]
        cdef uint8_t *q
        cdef Py_ssize_t n_in = len(inputs), i, k, pos, size
        cdef const uint8_t *p
        cdef const uint8_t *code
        cdef Py_ssize_t code_len
        cdef uint8_t p2pkh[25]
        cdef int m, n_keys, s, j
        cdef const uint8_t *key_ptr[16]
        cdef int key_len[16]
        cdef int64_t amount
        cdef WalkBatch walks = self.walks
        # midstates (BIP143)
        for i in range(n_in):
            prevout = get_slot(inputs[i], TX.in_prevout)  # types checked by run_tx
            memcpy(buf + 36 * i, PyBytes_AS_STRING(get_slot(prevout, TX.outpoint_txid)), 32)
            put_le(buf + 36 * i + 32, <uint32_t>get_slot(prevout, TX.outpoint_index), 4)
        sha256d_into(buf, 36 * n_in, mid)
        for i in range(n_in):
            put_le(buf + 4 * i, self.seqs[i], 4)
        sha256d_into(buf, 4 * n_in, mid + 32)
        pos = 0
        for out in outputs:
            spk = get_slot(out, TX.out_script)
            size = PyBytes_GET_SIZE(spk)
            put_le(buf + pos, <unsigned long long><int64_t>get_slot(out, TX.out_value), 8)
            pos += 8
            pos += put_compact(buf + pos, size)
            memcpy(buf + pos, PyBytes_AS_STRING(spk), size)
            pos += size
        sha256d_into(buf, pos, mid + 64)
        p2pkh[0] = 0x76
        p2pkh[1] = 0xA9
        p2pkh[2] = 20
        p2pkh[23] = 0x88
        p2pkh[24] = 0xAC
        for i in range(n_in):
            txin = inputs[i]
            coin = coins[i]
            out = get_slot(coin, CS.coin_output)
            amount = get_slot(out, TX.out_value)
            witness = get_slot(txin, TX.in_witness)
            if self.kinds[i] == 1:
                memcpy(p2pkh + 3, PyBytes_AS_STRING(get_slot(out, TX.out_script)) + 2, 20)
                code = p2pkh
                code_len = 25
            else:
                script = witness[len(witness) - 1]
                code = <const uint8_t *>PyBytes_AS_STRING(script)
                code_len = PyBytes_GET_SIZE(script)
            prevout = get_slot(txin, TX.in_prevout)
            q = buf
            put_le(q, <unsigned long long>version, 4)
            memcpy(q + 4, mid, 64)
            memcpy(q + 68, PyBytes_AS_STRING(get_slot(prevout, TX.outpoint_txid)), 32)
            put_le(q + 100, <uint32_t>get_slot(prevout, TX.outpoint_index), 4)
            pos = 104
            pos += put_compact(q + pos, code_len)
            memcpy(q + pos, code, code_len)
            pos += code_len
            put_le(q + pos, <unsigned long long>amount, 8)
            put_le(q + pos + 8, self.seqs[i], 4)
            memcpy(q + pos + 12, mid + 64, 32)
            put_le(q + pos + 44, <unsigned long long>locktime, 4)
            put_le(q + pos + 48, SIGHASH_ALL, 4)
            sha256d_into(q, pos + 52, digest)
            self.script_inputs.append((tx, i, out, None, None))
            owner = len(self.script_inputs) - 1
            self.fast_inputs += 1
            if self.kinds[i] == 1:
                sig = witness[0]
                pub = witness[1]
                if self.sigcache is not None and self.cached(
                        digest, <const uint8_t *>PyBytes_AS_STRING(pub), PyBytes_GET_SIZE(pub),
                        <const uint8_t *>PyBytes_AS_STRING(sig), PyBytes_GET_SIZE(sig) - 1):
                    self.cache_hits += 1
                    continue
                walks.begin(owner)
                walks.push_key(<const uint8_t *>PyBytes_AS_STRING(pub), PyBytes_GET_SIZE(pub))
                walks.push_sig(<const uint8_t *>PyBytes_AS_STRING(sig),
                               PyBytes_GET_SIZE(sig) - 1, digest)
            else:
                walks.begin(owner)
                p = code + 1
                n_keys = 0
                while p < code + code_len - 2:
                    walks.push_key(p + 1, p[0])
                    key_ptr[n_keys] = p + 1
                    key_len[n_keys] = p[0]
                    n_keys += 1
                    p += 1 + p[0]
                m = self.msig_m[i]
                for k in range(1, m + 1):
                    sig = witness[k]
                    walks.push_sig(<const uint8_t *>PyBytes_AS_STRING(sig),
                                   PyBytes_GET_SIZE(sig) - 1, digest)
                    if self.sigcache is None:
                        continue
                    # signature s meets only keys s .. s + n - m (CHECKMULTISIG's walk)
                    s = <int>k - 1
                    for j in range(s, s + n_keys - m + 1):
                        if self.cached(digest, key_ptr[j], key_len[j],
                                       <const uint8_t *>PyBytes_AS_STRING(sig),
                                       PyBytes_GET_SIZE(sig) - 1):
                            walks.mark_cached(j)
        return 0

    cdef int sync_out(self) except -1:
        self.totals.fees = self.fees
        self.totals.sigops = self.sigops
        return 0

    cdef int sync_in(self) except -1:
        self.fees = self.totals.fees
        self.sigops = self.totals.sigops
        return 0

    cdef int next_walks(self) except -1:
        """Hand the open walk batch to the verifier threads and open a new one."""
        self.scripts.submit_walks()
        self.walks = self.scripts.walk_batch()
        return 0


def connect_transactions(txs, cache, long height, params, scripts, totals, fallback):
    """``connect._connect_transactions``' loop: ``totals`` (fees, sigops, tx_undo) as the
    Python loop keeps them; ``fallback(position, tx)`` is ``connect._connect_tx`` for the
    transactions handled there (coinbase, coinstake, and every shape not modelled here)."""
    cdef _Loop loop = _Loop()
    cdef Py_ssize_t position, n = len(txs)
    cdef Py_ssize_t limit = FIRST_WALKS
    cdef int done
    cdef bytearray free = getattr(totals, "contract_free", None)
    cdef char *free_flags = NULL
    if free is not None:
        if len(free) != n:
            raise ValueError("totals.contract_free needs one flag per transaction")
        free_flags = free
    loop.cache = cache
    loop.entries = cache._entries
    loop.height = height
    loop.height_obj = height
    loop.maturity = params.coinbase_maturity
    loop.max_sigops = params.max_block_sigops_cost
    loop.max_money = params.max_money
    loop.totals = totals
    loop.tx_undo = totals.tx_undo
    loop.fallback = fallback
    loop.scripts = scripts
    loop.walkable = False
    if scripts is not None:
        walks = scripts.walk_batch()
        if walks is not None:
            loop.walks = walks
            loop.walkable = True
            loop.sigcache = scripts.sigcache
            if type(loop.sigcache) is SignatureCache and len(loop.sigcache.salt) <= MAX_SALT:
                loop.c_keys = True
                loop.salt = loop.sigcache.salt
                loop.sig_entries = loop.sigcache.entries
            loop.stats = scripts.stats
            loop.script_inputs = scripts.inputs
    loop.sync_in()
    try:
        for position in range(n):
            tx = txs[position]
            done = 0 if position < 2 else loop.run_tx(tx)
            if not done:
                loop.sync_out()
                fallback(position, tx)
                loop.sync_in()
            elif done == 2 and free_flags != NULL:
                free_flags[position] = 1
            if loop.walkable and len(loop.walks) >= limit:
                loop.next_walks()
                limit = WALKS
    finally:
        loop.sync_out()
        if loop.walkable:
            loop.stats.template_inputs += loop.fast_inputs
            loop.stats.checks += loop.cache_hits
            loop.stats.cache_hits += loop.cache_hits
