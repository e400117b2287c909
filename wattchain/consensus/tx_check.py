"""Context-free transaction checks (Bitcoin Core's CheckTransaction).

These need no UTXO set or chain position, so they run first on anything from the network.
"""

from __future__ import annotations

from wattchain.consensus.errors import TxValidationError
from wattchain.core.tx import WITNESS_SCALE_FACTOR, Transaction


def check_transaction(tx: Transaction, max_money: int, max_block_weight: int) -> None:
    """Raise :class:`TxValidationError` with Core's reason if ``tx`` is malformed on its own.

    ``max_money`` and ``max_block_weight`` come from the chain parameters: a transaction's
    stripped size may not exceed what a block of that weight could hold.
    """
    if not tx.inputs:
        raise TxValidationError("bad-txns-vin-empty")
    if not tx.outputs:
        raise TxValidationError("bad-txns-vout-empty")
    if tx.base_size * WITNESS_SCALE_FACTOR > max_block_weight:
        raise TxValidationError("bad-txns-oversize")
    total = 0
    for out in tx.outputs:
        if out.value < 0:
            raise TxValidationError("bad-txns-vout-negative")
        if out.value > max_money:
            raise TxValidationError("bad-txns-vout-toolarge")
        total += out.value
        if total > max_money:
            raise TxValidationError("bad-txns-txouttotal-toolarge")
    prevouts = {txin.prevout for txin in tx.inputs}
    if len(prevouts) != len(tx.inputs):
        raise TxValidationError("bad-txns-inputs-duplicate")
    if tx.is_coinbase():
        if not 2 <= len(tx.inputs[0].script_sig) <= 100:
            raise TxValidationError("bad-cb-length")
    elif any(txin.prevout.is_null() for txin in tx.inputs):
        raise TxValidationError("bad-txns-prevout-null")
