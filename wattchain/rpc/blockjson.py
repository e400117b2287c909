"""Blocks and headers as JSON in Bitcoin Core's ``getblock``/``getblockheader`` shape, plus
Qtum-style Proof-of-Stake fields.

Shared by the JSON-RPC methods and the REST interface. Core's fields come first with Core's
names; the PoS additions are: ``proofofstake`` (bool), ``flags`` (Qtum: "proof-of-stake"),
``prevoutstake`` ({txid, vout}, Qtum's prevoutStakeHash/VoutN as one object), ``stakemodifier``
(hex, display order), ``blocksignature`` (hex) and ``hashStateRoot`` (Qtum's name).

Difficulty: Core's GetDifficulty, i.e. the target of bits ``0x1d00ffff`` divided by the
block's target. wattchain's easiest target (``pos_limit``) is far easier than that base, so
difficulties are far below 1 (main: 2**224 limit -> about 1.5e-5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattchain.consensus.target import bits_to_target
from wattchain.core.tx import txid_to_hex
from wattchain.rpc.txjson import tx_to_json

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.consensus.params import ChainParams
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import ActiveChain, BlockIndexEntry

#: Target of Core's difficulty 1 (compact 0x1d00ffff): the unit of "difficulty".
DIFFICULTY_1_TARGET = 0xFFFF << 208


def difficulty(bits: int) -> float:
    """Core's GetDifficulty for compact ``bits`` (0.0 for an unusable encoding)."""
    try:
        target = bits_to_target(bits)
    except ValueError:
        return 0.0
    return DIFFICULTY_1_TARGET / target if target else 0.0


def chainwork_hex(work: int) -> str:
    return f"{work:064x}"


def header_to_json(entry: "BlockIndexEntry", chain: "ActiveChain") -> dict[str, Any]:
    """Core's getblockheader (verbose) for an index entry, plus the PoS fields."""
    header = entry.header
    on_chain = chain.contains(entry)
    result: dict[str, Any] = {
        "hash": txid_to_hex(entry.hash),
        "confirmations": chain.height - entry.height + 1 if on_chain else -1,
        "height": entry.height,
        "version": header.version,
        "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
        "merkleroot": txid_to_hex(header.merkle_root),
        "time": header.time,
        "mediantime": entry.median_time_past(),
        "nonce": header.nonce,
        "bits": f"{header.bits:08x}",
        "difficulty": difficulty(header.bits),
        "chainwork": chainwork_hex(entry.chain_work),
        "nTx": entry.tx_count,
    }
    if entry.parent is not None:
        result["previousblockhash"] = txid_to_hex(entry.parent.hash)
    following = chain.at(entry.height + 1) if on_chain else None
    if following is not None:
        result["nextblockhash"] = txid_to_hex(following.hash)
    result.update(stake_fields(entry))
    return result


def stake_fields(entry: "BlockIndexEntry") -> dict[str, Any]:
    header = entry.header
    pos = header.is_proof_of_stake()
    fields: dict[str, Any] = {
        "proofofstake": pos,
        "flags": "proof-of-stake" if pos else "proof-of-work",
        "hashStateRoot": txid_to_hex(header.state_root),
        "stakemodifier": txid_to_hex(entry.stake_modifier),
        "blocksignature": header.block_signature.hex(),
    }
    if pos:
        fields["prevoutstake"] = {"txid": txid_to_hex(header.prevout_stake.txid),
                                  "vout": header.prevout_stake.index}
    return fields


def block_to_json(block: "StakeBlock", entry: "BlockIndexEntry", chain: "ActiveChain",
                  params: "ChainParams", verbosity: int) -> dict[str, Any]:
    """Core's getblock at verbosity 1 (txids) or 2 (decoded transactions)."""
    result = header_to_json(entry, chain)
    nxt = result.pop("nextblockhash", None)
    prev = result.pop("previousblockhash", None)
    stake = {k: result.pop(k) for k in list(stake_fields(entry))}
    result.pop("nTx")
    base = block.base_size
    result["strippedsize"] = base
    result["size"] = block.total_size
    result["weight"] = block.weight
    if verbosity >= 2:
        fmt = params.address_format
        result["tx"] = [dict(tx_to_json(tx, fmt), hex=tx.to_hex())
                        for tx in block.transactions]
    else:
        result["tx"] = [tx.txid_hex for tx in block.transactions]
    result["nTx"] = len(block.transactions)
    if prev is not None:
        result["previousblockhash"] = prev
    if nxt is not None:
        result["nextblockhash"] = nxt
    result.update(stake)
    return result
