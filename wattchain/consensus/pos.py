"""Proof-of-Stake rules (Qtum / Blackcoin PoS v3, see design/pos.md).

A block after the genesis is produced by whoever owns an unspent output whose *stake kernel*
hash falls under ``target x value``: the more coins, the more likely, no work to burn. This
module holds the pure rules; finding the staked coin (which may sit on a side branch) is the
storage layer's job, and it hands the coin in as a :class:`StakeCoin`.

- **Kernel**: SHA256d(stake modifier || time of the block holding the staked output ||
  staked txid || staked index || new block time), compared as a little-endian uint256 with the
  integer test ``kernel // value <= target`` (Qtum's overflow-free form; ``value`` in base units).
- **Stake modifier**: SHA256d(staked txid || previous modifier), the genesis' is 32 zero bytes.
  It is fixed by the header chain alone (the staked outpoint is in the header), so stakers
  cannot grind it by choosing block contents. (The issue words it as "from the previous modifier
  and the kernel"; in PoS v3 the "kernel" fed to the modifier is the staked txid — pos.md.)
- **Signature**: a 65-byte compact recoverable signature over the block id (the header without
  its signature). The recovered key must be the key of the staked output: P2PK (the same key
  bytes), P2PKH or P2WPKH (hash160 of the recovered key; P2WPKH needs a compressed key).
- **Difficulty**: retarget every block with Peercoin's moving average, Qtum's pre-QIP9 rule:
  ``new = old * ((N-1)*T + 2*A) / ((N+1)*T)`` with ``T`` the spacing, ``N = timespan / T`` and
  ``A`` the gap between the parent and the grandparent. A negative gap counts as one spacing
  and a gap is capped at ten spacings, so one odd timestamp moves the target by at most
  ``(N+19)/(N+1)`` in a block.
  Integers only, so every node derives identical bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattchain.consensus.block_scan import PASSES
from wattchain.consensus.context import ChainContext
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.target import bits_to_target, target_to_bits
from wattchain.consensus.tx_verify import is_coinstake
from wattchain.core.hashes import hash160, sha256d
from wattchain.core.header import StakeBlock, StakeBlockHeader
from wattchain.core.keys import CompactSignatureError, recover_compact, sign_compact
from wattchain.core.serialization import u32
from wattchain.core.tx import OutPoint, TxOut
from wattchain.script.standard import TxOutType, solve

#: The genesis' stake modifier.
GENESIS_STAKE_MODIFIER = bytes(32)
#: A gap of more than this many spacings between two blocks counts as this many.
MAX_SPACING_FACTOR = 10
#: Output types whose key can sign a block (pos.md: P2PK/P2PKH, plus P2WPKH for wattchain).
STAKEABLE_TYPES = frozenset({TxOutType.PUBKEY, TxOutType.PUBKEYHASH,
                             TxOutType.WITNESS_V0_KEYHASH})


# ------------------------------------------------------------------------------ kernel
def next_stake_modifier(previous: bytes, staked_txid: bytes) -> bytes:
    """The modifier of a block staking ``staked_txid`` on a parent whose modifier is
    ``previous``."""
    return sha256d(staked_txid + previous)


@dataclass(frozen=True)
class StakeKernel:
    """The five values the kernel hash covers; ``hash`` is what must fall under the target."""

    stake_modifier: bytes
    coin_block_time: int
    prevout: OutPoint
    block_time: int

    def serialize(self) -> bytes:
        return (self.stake_modifier + u32(self.coin_block_time) + self.prevout.txid
                + u32(self.prevout.index) + u32(self.block_time))

    @property
    def hash(self) -> bytes:
        return sha256d(self.serialize())

    def meets_target(self, bits: int, value: int) -> bool:
        """Whether this kernel wins with a stake of ``value`` at difficulty ``bits``."""
        return kernel_meets_target(self.hash, bits, value)


def kernel_meets_target(kernel_hash: bytes, bits: int, value: int) -> bool:
    """Qtum's test ``uint256(kernel) / value <= target``; a zero or negative stake never wins
    and undecodable bits never do either."""
    if value <= 0:
        return False
    try:
        target = bits_to_target(bits)
    except ValueError:
        return False
    if target <= 0:
        return False  # zero bits carry no work (block_proof) and must win nothing either
    return int.from_bytes(kernel_hash, "little") // value <= target


# ------------------------------------------------------------------------------ difficulty
def next_target_bits(parent: ChainContext, params: ChainParams) -> int:
    """Bits a child of ``parent`` must carry.

    The first two blocks after the genesis use ``pos_limit``: the genesis time is a fixed
    historical date, so the gap to it says nothing about the stakers' pace.
    """
    limit_bits = target_to_bits(params.pos_limit)
    if parent.height < 2:
        return limit_bits
    spacing = params.target_spacing
    actual = parent.time - parent.time_at(parent.height - 1)
    if actual < 0:
        actual = spacing
    actual = min(actual, MAX_SPACING_FACTOR * spacing)
    interval = max(1, params.retarget_timespan // spacing)
    try:
        old = bits_to_target(parent.bits)
    except ValueError:
        return limit_bits
    new = old * ((interval - 1) * spacing + 2 * actual) // ((interval + 1) * spacing)
    if new <= 0 or new > params.pos_limit:
        new = params.pos_limit
    return target_to_bits(new)


# ------------------------------------------------------------------------------ signatures
def sign_block_header(header: StakeBlockHeader, private_key: bytes,
                      compressed: bool = True) -> StakeBlockHeader:
    """``header`` with its block signature filled in (the id does not change)."""
    return header.with_signature(sign_compact(private_key, header.hash, compressed))


def sign_block(block: StakeBlock, private_key: bytes, compressed: bool = True) -> StakeBlock:
    """``block`` with a signed header (transactions untouched)."""
    return type(block)(sign_block_header(block.header, private_key, compressed),
                       block.transactions)


def block_signer_matches(header: StakeBlockHeader, script_pubkey: bytes) -> bool:
    """Whether the header's signature recovers the key that owns ``script_pubkey``."""
    kind, solutions = solve(script_pubkey)
    if kind not in STAKEABLE_TYPES:
        return False
    try:
        pubkey = recover_compact(header.block_signature, header.hash)
    except CompactSignatureError:
        return False
    if kind is TxOutType.PUBKEY:
        return pubkey == solutions[0]
    if kind is TxOutType.WITNESS_V0_KEYHASH and len(pubkey) != 33:
        return False  # segwit v0 keys are compressed (BIP143)
    return hash160(pubkey) == solutions[0]


# ------------------------------------------------------------------------------ checks
@dataclass(frozen=True)
class StakeCoin:
    """The staked output as found on the block's own branch, with the time of its block."""

    output: TxOut
    height: int
    block_time: int


def check_stake_timestamp(header: StakeBlockHeader, parent: ChainContext,
                          params: ChainParams) -> None:
    """Slot grid and ordering of a PoS block time (the median and future-time rules are in
    :func:`~wattchain.consensus.contextual.contextual_check_block_header`)."""
    if header.time & params.stake_timestamp_mask:
        raise BlockValidationError("bad-stake-time-mask",
                                   f"block time {header.time} is not on the "
                                   f"{params.stake_timestamp_mask + 1}-second stake grid")
    if header.time <= parent.time:
        raise BlockValidationError("time-before-parent",
                                   f"block time {header.time} is not after its parent's "
                                   f"{parent.time}")


def check_proof_of_stake(header: StakeBlockHeader, parent: ChainContext,
                         coin: StakeCoin | None, params: ChainParams) -> bytes:
    """The stake of ``header`` (child of ``parent``) against its staked ``coin``.

    Checks, each with its own reason: the coin exists unspent on this branch
    (``stake-prevout-not-found``), is deep enough (``stake-immature``), was created no later
    than the block time (``bad-stake-time-coin``), its kernel meets the target
    (``bad-stake-kernel``), its script can sign (``bad-stake-script``), and the header is
    signed by its key (``bad-blk-signature``). Cheap enough (one hash, one key recovery) to
    run on every header before anything is stored. Returns the kernel hash.
    """
    if not header.is_proof_of_stake():
        raise BlockValidationError("bad-blk-not-pos", "block names no staked output")
    if coin is None:
        raise BlockValidationError("stake-prevout-not-found",
                                   f"staked output {header.prevout_stake} is not unspent on "
                                   "this block's chain")
    depth = parent.height + 1 - coin.height
    if not params.stake_deep_enough(coin.height, parent.height + 1):
        raise BlockValidationError("stake-immature",
                                   f"staked output is {depth} blocks deep, "
                                   f"{params.stake_min_depth} needed")
    if header.time < coin.block_time:
        raise BlockValidationError("bad-stake-time-coin",
                                   "block time is before the staked output's block")
    kernel = StakeKernel(parent.stake_modifier, coin.block_time, header.prevout_stake,
                         header.time)
    kernel_hash = kernel.hash
    if not kernel_meets_target(kernel_hash, header.bits, coin.output.value):
        raise BlockValidationError("bad-stake-kernel",
                                   f"kernel hash {kernel_hash[::-1].hex()} above target x value")
    if solve(coin.output.script_pubkey)[0] not in STAKEABLE_TYPES:
        raise BlockValidationError("bad-stake-script",
                                   "staked output is not P2PK, P2PKH or P2WPKH")
    if not block_signer_matches(header, coin.output.script_pubkey):
        raise BlockValidationError("bad-blk-signature",
                                   "block signature is not by the staked output's key")
    return kernel_hash


def check_coinstake_shape(block: StakeBlock, known: bytes | bytearray | None = None) -> None:
    """Context-free shape of a PoS block: tx 1 is the coinstake staking the header's outpoint,
    no other transaction is a coinstake, and the coinbase pays nothing (the reward and fees go
    to the coinstake; the coinbase keeps only value-0 outputs such as the witness commitment).

    ``known`` (``check_block``'s compiled scan, one status per transaction): a transaction
    marked ``PASSES`` is known not to be shaped like a coinstake, so ``is_coinstake`` is not
    asked.
    """
    txs = block.transactions
    if len(txs) < 2 or not is_coinstake(txs[1]):
        raise BlockValidationError("bad-cs-missing", "second transaction is not a coinstake")
    if txs[1].inputs[0].prevout != block.header.prevout_stake:
        raise BlockValidationError("bad-cs-prevout",
                                   "coinstake does not spend the header's staked output")
    for position in range(2, len(txs)):
        if (known is None or known[position] != PASSES) and is_coinstake(txs[position]):
            raise BlockValidationError("bad-cs-multiple", "more than one coinstake")
    if any(out.value for out in txs[0].outputs):
        raise BlockValidationError("bad-cb-pos-value",
                                   "the coinbase of a proof-of-stake block must pay nothing")


__all__ = ["GENESIS_STAKE_MODIFIER", "StakeCoin", "StakeKernel", "block_signer_matches",
           "check_coinstake_shape", "check_proof_of_stake", "check_stake_timestamp",
           "kernel_meets_target", "next_stake_modifier", "next_target_bits", "sign_block",
           "sign_block_header"]
