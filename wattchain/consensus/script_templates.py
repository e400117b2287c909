"""Template fast paths: the signature checks an input needs, without running the interpreter.

Used by :mod:`wattchain.consensus.script_checks`. Each input becomes a small *job* that emits
ECDSA checks (pubkey, DER signature, sighash) and is told their results:

* P2WPKH, P2PKH and m-of-n multisig (bare, P2SH, P2WSH), and P2WPKH/P2WSH nested in P2SH,
  are matched byte for byte and their checks computed directly (:func:`template_job`);
* anything else runs the interpreter with a *recording* verifier that answers "valid" and notes
  each check (:func:`recorded_job`): if every noted check really is valid, the interpreter's
  run was exactly the real one, so the input is valid;
* CHECKMULTISIG's ordered walk (last signature against last key first, keys may be skipped) is
  replayed one comparison per round (:class:`MultisigWalk`), so exactly the interpreter's
  checks are made.

Rule: a job may only report success when the interpreter would succeed. A template that does not
match exactly, a flag it does not model, an encoding the interpreter would refuse, an empty
signature: all return None, and the caller runs the interpreter instead.
"""

from __future__ import annotations

from wattchain.core.hashes import hash160, sha256
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.checker import SigVersion, TransactionSignatureChecker
from wattchain.script.checksig_ops import data_push
from wattchain.script.errors import ScriptError
from wattchain.script.fastpaths import segwit_v0_digest
from wattchain.script.flags import CONSENSUS_FLAGS, ScriptFlags
from wattchain.script.interpreter import verify_input
from wattchain.script.opcodes import MAX_SCRIPT_ELEMENT_SIZE
from wattchain.script.script import find_and_delete
from wattchain.script.sighash import PrecomputedTransactionData
from wattchain.script.signature_encoding import check_pubkey_encoding, check_signature_encoding

F = ScriptFlags
#: Flags whose every effect on the templates below is modelled (encoding checks are delegated to
#: the interpreter's own functions; the rest cannot fire on these exact templates).
_MODELLED = int(CONSENSUS_FLAGS | F.STRICTENC | F.LOW_S | F.NULLFAIL | F.WITNESS_PUBKEYTYPE
                | F.SIGPUSHONLY | F.CLEANSTACK | F.DISCOURAGE_UPGRADABLE_NOPS
                | F.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM | F.MINIMALIF)
_P2SH, _WITNESS, _CLEANSTACK = int(F.P2SH), int(F.WITNESS), int(F.CLEANSTACK)
_OP_CHECKMULTISIG = 0xAE
_P2PKH_HEAD = bytes((0x76, 0xA9, 20))
_P2PKH_TAIL = bytes((0x88, 0xAC))
_ZERO_PROGRAM20 = bytes(20)

#: One ECDSA check: (pubkey, DER signature without hash type, 32-byte digest).
Check = tuple[bytes, bytes, bytes]


# ------------------------------------------------------------------------------ jobs
class Job:
    """Checks for one input. ``next_checks`` is asked once per round until it returns []."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def next_checks(self) -> list[Check]:
        raise NotImplementedError

    def feed(self, results: list[bool]) -> None:
        raise NotImplementedError


class AllOf(Job):
    """Every check must pass (P2WPKH, P2PKH, and recorded interpreter runs)."""

    __slots__ = ("checks",)

    def __init__(self, checks: list[Check]) -> None:
        super().__init__()
        self.checks = checks

    def next_checks(self) -> list[Check]:
        checks, self.checks = self.checks, []
        return checks

    def feed(self, results: list[bool]) -> None:
        if not all(results):
            self.failed = True


class MultisigWalk(Job):
    """CHECKMULTISIG's loop, one comparison per round: last signature against last key first."""

    __slots__ = ("sigs", "keys", "sig_at", "key_at", "pending")

    def __init__(self, sigs: list[tuple[bytes, bytes]], keys: list[bytes]) -> None:
        super().__init__()
        self.sigs = sigs  # (DER without hash type, digest), in stack order (deepest first)
        self.keys = keys
        self.sig_at = len(sigs) - 1
        self.key_at = len(keys) - 1
        self.pending = False

    def next_checks(self) -> list[Check]:
        if self.failed or self.sig_at < 0:
            return []
        self.pending = True
        der, digest = self.sigs[self.sig_at]
        return [(self.keys[self.key_at], der, digest)]

    def feed(self, results: list[bool]) -> None:
        if results[0]:
            self.sig_at -= 1
        self.key_at -= 1
        if self.sig_at + 1 > self.key_at + 1:  # more signatures left than keys
            self.failed = True


# ------------------------------------------------------------------------------ templates
def _pushes(script: bytes) -> list[bytes] | None:
    """The items a push-only script leaves, or None if it has any other opcode (or is cut)."""
    items: list[bytes] = []
    pos, n = 0, len(script)
    while pos < n:
        op = script[pos]
        pos += 1
        if op == 0:
            items.append(b"")
            continue
        if op < 0x4C:
            size = op
        elif op == 0x4C and pos + 1 <= n:
            size, pos = script[pos], pos + 1
        elif op == 0x4D and pos + 2 <= n:
            size, pos = int.from_bytes(script[pos:pos + 2], "little"), pos + 2
        elif op == 0x4E and pos + 4 <= n:
            size, pos = int.from_bytes(script[pos:pos + 4], "little"), pos + 4
        else:
            return None
        if pos + size > n or size > MAX_SCRIPT_ELEMENT_SIZE:
            return None
        items.append(script[pos:pos + size])
        pos += size
    return items


def _multisig(script: bytes) -> tuple[int, list[bytes]] | None:
    """``OP_m <key>... OP_n OP_CHECKMULTISIG`` with 33/65-byte direct pushes, 1 <= m <= n <= 16."""
    n = len(script)
    if n < 37 or script[-1] != _OP_CHECKMULTISIG:
        return None
    m, n_keys = script[0] - 0x50, script[-2] - 0x50
    if not 1 <= m <= n_keys <= 16:
        return None
    keys: list[bytes] = []
    pos = 1
    while pos < n - 2:
        size = script[pos]
        if size not in (33, 65) or pos + 1 + size > n - 2:
            return None
        keys.append(script[pos + 1:pos + 1 + size])
        pos += 1 + size
    return (m, keys) if len(keys) == n_keys else None


class _Spend:
    """What the templates need about one input: signature hashing and the flags."""

    __slots__ = ("checker", "flags", "precomputed", "pure")

    def __init__(self, tx: Transaction, index: int, spent: TxOut, flags: int,
                 precomputed: PrecomputedTransactionData, pure: bool | None = None) -> None:
        self.checker = TransactionSignatureChecker(tx, index, spent.value, precomputed)
        self.flags = flags
        self.precomputed = precomputed
        self.pure = pure

    def signature(self, sig: bytes, pubkey: bytes, code: bytes,
                  sigversion: SigVersion) -> tuple[bytes, bytes] | None:
        """(DER, digest) for a CHECKSIG of ``sig``/``pubkey``, or None where the interpreter
        would not simply verify it (bad encoding, or an empty, always-false signature)."""
        if not sig:
            return None
        try:
            check_signature_encoding(sig, self.flags)
            check_pubkey_encoding(pubkey, self.flags, sigversion is SigVersion.WITNESS_V0)
        except ScriptError:
            return None
        return sig[:-1], self.digest(code, sig[-1], sigversion)

    def digest(self, code: bytes, hash_type: int, sigversion: SigVersion) -> bytes:
        """The signature hash (SegWit v0 through :mod:`wattchain.script.fastpaths`)."""
        if sigversion is SigVersion.WITNESS_V0:
            checker = self.checker
            return segwit_v0_digest(code, checker.tx, checker.input_index, hash_type,
                                    checker.amount, self.precomputed, self.pure)
        return self.checker.signature_hash(code, hash_type, sigversion)

    def multisig(self, items: list[bytes], script: bytes,
                 sigversion: SigVersion) -> Job | None:
        """``items`` = dummy, sig1..sigm exactly; ``script`` the multisig script itself."""
        match = _multisig(script)
        if match is None:
            return None
        m, keys = match
        if len(items) != m + 1 or items[0]:
            return None
        sigs = items[1:]
        code = script
        if sigversion is SigVersion.BASE:
            for sig in sigs:
                code, _ = find_and_delete(code, data_push(sig))
        prepared = []
        for sig in sigs:
            if not sig:
                return None
            try:
                check_signature_encoding(sig, self.flags)
            except ScriptError:
                return None
            prepared.append((sig[:-1], self.digest(code, sig[-1], sigversion)))
        try:
            # Every key may be compared (the walk can skip any): all must pass the encoding rules.
            for key in keys:
                check_pubkey_encoding(key, self.flags, sigversion is SigVersion.WITNESS_V0)
        except ScriptError:
            return None
        return MultisigWalk(prepared, keys)


def _p2wpkh(spend: _Spend, program: bytes, witness: tuple[bytes, ...]) -> Job | None:
    if len(witness) != 2:
        return None
    sig, pubkey = witness
    if len(sig) > MAX_SCRIPT_ELEMENT_SIZE or len(pubkey) > MAX_SCRIPT_ELEMENT_SIZE:
        return None
    if hash160(pubkey) != program:
        return None
    found = spend.signature(sig, pubkey, _P2PKH_HEAD + program + _P2PKH_TAIL,
                            SigVersion.WITNESS_V0)
    return None if found is None else AllOf([(pubkey, found[0], found[1])])


def _p2wsh(spend: _Spend, program: bytes, witness: tuple[bytes, ...]) -> Job | None:
    if len(witness) < 2:
        return None
    witness_script = witness[-1]
    if sha256(witness_script) != program:
        return None
    items = list(witness[:-1])
    if any(len(item) > MAX_SCRIPT_ELEMENT_SIZE for item in items):
        return None
    return spend.multisig(items, witness_script, SigVersion.WITNESS_V0)


def _witness_v0(spend: _Spend, program_script: bytes,
                witness: tuple[bytes, ...]) -> Job | None:
    """A v0 witness program script (``OP_0 <20|32 bytes>``) run from ``witness``.

    An all-zero program would leave false on the stack before the witness runs: the
    interpreter's business (never a real key or script hash, but the rule must be exact)."""
    size = len(program_script)
    if size not in (22, 34) or program_script[0] != 0 or program_script[1] != size - 2:
        return None
    program = program_script[2:]
    if not any(program):
        return None
    return (_p2wpkh if size == 22 else _p2wsh)(spend, program, witness)


def _is_p2sh(spk: bytes) -> bool:
    return len(spk) == 23 and spk[0] == 0xA9 and spk[1] == 20 and spk[22] == 0x87


def template_job(tx: Transaction, index: int, spent: TxOut, flags: ScriptFlags,
                 precomputed: PrecomputedTransactionData, *,
                 pure: bool | None = None) -> Job | None:
    """A job for a recognised template, or None (then the interpreter must run).

    ``pure`` picks the signature-hash implementation (:mod:`wattchain.script.fastpaths`;
    default: ``WATTCHAIN_PURE``); both give the same digests."""
    bits = int(flags)
    if bits & ~_MODELLED or (bits & _WITNESS and not bits & _P2SH) or (
            bits & _CLEANSTACK and not (bits & _P2SH and bits & _WITNESS)):
        return None
    txin = tx.inputs[index]
    spk, script_sig, witness = spent.script_pubkey, txin.script_sig, txin.witness
    n = len(spk)
    if n == 22 and spk[0] == 0 and spk[1] == 20 and bits & _WITNESS and not script_sig:
        return _native_p2wpkh(tx, index, spent, bits, precomputed, spk, witness, pure)
    spend = _Spend(tx, index, spent, bits, precomputed, pure)
    if (n == 22 or n == 34) and spk[0] == 0:  # native P2WPKH / P2WSH
        if not bits & _WITNESS or script_sig:
            return None
        return _witness_v0(spend, spk, witness)
    items = _pushes(script_sig)
    if items is None:
        return None
    if witness and bits & _WITNESS:
        # Only P2SH-wrapped SegWit may carry a witness here: the scriptSig must be exactly
        # one canonical push of the program (else WITNESS_MALLEATED_P2SH and friends).
        if (not _is_p2sh(spk) or len(items) != 1 or script_sig != data_push(items[0])
                or hash160(items[0]) != spk[2:22]):
            return None
        return _witness_v0(spend, items[0], witness)
    if n == 25 and spk.startswith(_P2PKH_HEAD) and spk.endswith(_P2PKH_TAIL):  # P2PKH
        if len(items) != 2 or hash160(items[1]) != spk[3:23]:
            return None
        sig, pubkey = items
        code, _ = find_and_delete(spk, data_push(sig))
        found = spend.signature(sig, pubkey, code, SigVersion.BASE)
        return None if found is None else AllOf([(pubkey, found[0], found[1])])
    if _is_p2sh(spk):  # P2SH multisig
        if not bits & _P2SH or not items or hash160(items[-1]) != spk[2:22]:
            return None
        return spend.multisig(items[:-1], items[-1], SigVersion.BASE)
    return spend.multisig(items, spk, SigVersion.BASE)  # bare multisig (or None)


def _native_p2wpkh(tx: Transaction, index: int, spent: TxOut, bits: int,
                   precomputed: PrecomputedTransactionData, spk: bytes,
                   witness: tuple[bytes, ...], pure: bool | None) -> Job | None:
    """Native P2WPKH, the bulk of a block: the same decisions as ``_witness_v0`` ->
    ``_p2wpkh`` -> ``_Spend.signature`` without their per-input objects."""
    if len(witness) != 2:
        return None
    sig, pubkey = witness
    program = spk[2:]
    if (not sig or len(sig) > MAX_SCRIPT_ELEMENT_SIZE or len(pubkey) > MAX_SCRIPT_ELEMENT_SIZE
            or program == _ZERO_PROGRAM20 or hash160(pubkey) != program):
        return None
    try:
        check_signature_encoding(sig, bits)
        check_pubkey_encoding(pubkey, bits, True)
    except ScriptError:
        return None
    digest = segwit_v0_digest(_P2PKH_HEAD + program + _P2PKH_TAIL, tx, index, sig[-1],
                              spent.value, precomputed, pure)
    return AllOf([(pubkey, sig[:-1], digest)])


def recorded_job(tx: Transaction, index: int, spent: TxOut, flags: ScriptFlags,
                 precomputed: PrecomputedTransactionData) -> Job:
    """Run the interpreter answering every signature check "valid" and keep the checks.

    If the run fails the input may still be valid (e.g. ``NOT CHECKSIG`` on a bad signature):
    the job is marked failed and the real interpreter settles it.
    """
    checks: list[Check] = []

    def record(pubkey: bytes, der_sig: bytes, digest: bytes) -> bool:
        checks.append((pubkey, der_sig, digest))
        return True

    job = AllOf(checks)
    try:
        verify_input(tx, index, spent, flags, precomputed, record)
    except ScriptError:
        job.failed = True
    return job


__all__ = ["Check", "Job", "AllOf", "MultisigWalk", "template_job", "recorded_job"]
