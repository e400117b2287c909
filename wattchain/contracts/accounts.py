"""Accounts: the 20-byte identities contracts see, and how a transaction's sender gets one.

An account is 20 bytes, for people and contracts alike (as Ethereum/Qtum addresses). Qtum's
rule for the sender of a contract transaction: the output spent by input 0 must be a key-hash
output; its key hash is ``msg.sender``. Here P2PKH and P2WPKH both qualify (the same key gives
the same account under either form) and so does P2PK (hash160 of the key). Anything else
cannot send contract transactions (:class:`InvalidSenderError`: the transaction is invalid).
Contract ids are Qtum's ``hash160(txid || u32le(output index))``.
"""

from __future__ import annotations

from wattchain.contracts.errors import InvalidSenderError
from wattchain.core.hashes import hash160
from wattchain.script.standard import TxOutType, solve

ACCOUNT_SIZE = 20
#: WATT burned by consumption goes here; nobody holds its key (it is not a hash160 image
#: anyone can produce), and tokens sent here are removed from the supply.
BURN_ADDRESS = bytes(20)


def sender_account(script_pubkey: bytes) -> bytes:
    """The account of the sender whose coin (input 0's prevout) has this script."""
    kind, solutions = solve(script_pubkey)
    if kind in (TxOutType.PUBKEYHASH, TxOutType.WITNESS_V0_KEYHASH):
        return solutions[0]
    if kind is TxOutType.PUBKEY:
        return hash160(solutions[0])
    raise InvalidSenderError("contract-invalid-sender", kind.value)


def contract_id(txid: bytes, output_index: int) -> bytes:
    """Qtum's contract address: hash160 of the creating outpoint."""
    return hash160(txid + output_index.to_bytes(4, "little"))


def is_account(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == ACCOUNT_SIZE
