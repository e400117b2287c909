"""Bitcoin-compatible script interpreter: the public entry points.

* :func:`eval_script` runs one script on a stack (Core's EvalScript).
* :func:`verify_script` checks a scriptSig + witness against a scriptPubKey (Core's
  VerifyScript), including P2SH (BIP16) and SegWit v0 (BIP141/143: P2WPKH, P2WSH, and both
  nested in P2SH).
* :func:`verify_input` does the same for one input of a transaction.

Every consensus and standardness rule up to and including SegWit is implemented, each behind
its :class:`~wattchain.script.flags.ScriptFlags` bit: P2SH, STRICTENC, DERSIG, LOW_S,
NULLDUMMY, MINIMALDATA, SIGPUSHONLY, DISCOURAGE_UPGRADABLE_NOPS, CLEANSTACK,
CHECKLOCKTIMEVERIFY, CHECKSEQUENCEVERIFY, WITNESS, DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM,
MINIMALIF, NULLFAIL, WITNESS_PUBKEYTYPE and CONST_SCRIPTCODE. Failures raise
:class:`~wattchain.script.errors.ScriptError` whose ``code`` has Bitcoin Core's name.

**Taproot (BIP340/341/342) is not implemented.** Witness programs of version 1..16, Taproot's
v1 included, are "unknown versions": valid by consensus (anyone-can-spend, as for a node that
predates the soft fork) and rejected by policy when DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM is
set. There is no TAPROOT flag, no tapscript sigversion and no Schnorr verification. Unlike
Core, a v1 32-byte program is therefore *discouraged* under that flag (Core without its
TAPROOT flag lets it through), and pay-to-anchor outputs get no special case.

The code is split by concern: :mod:`~wattchain.script.engine` (evaluation loop and opcodes),
:mod:`~wattchain.script.checksig_ops` (CHECKSIG, CHECKMULTISIG, scriptCode rules),
:mod:`~wattchain.script.verify` (scriptSig/scriptPubKey/P2SH/witness orchestration) and
:mod:`~wattchain.script.signature_encoding` (DER, low-S, hash-type and key-format rules).
"""

from __future__ import annotations

from wattchain.script.checksig_ops import data_push
from wattchain.script.engine import cast_to_bool, eval_script
from wattchain.script.verify import InvalidFlagCombination, verify_input, verify_script

__all__ = ["eval_script", "verify_script", "verify_input", "cast_to_bool", "data_push",
           "InvalidFlagCombination"]
