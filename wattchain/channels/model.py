"""The channel data model: parties, keys, HTLCs, commitment specs and built commitments.

Why a module of its own: the commitment builder, the HTLC second-stage builder and the on-chain
resolution code all share these frozen dataclasses; keeping them apart from the builders avoids
import cycles. Everything is seen from a commitment's *holder* (see :mod:`.commitment`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from wattchain.channels import keys as bolt3keys
from wattchain.channels.errors import CommitmentError
from wattchain.channels.scripts import (funding_script, offered_htlc_script,
                                        received_htlc_script, to_local_script)
from wattchain.channels.shachain import commitment_secret
from wattchain.core.keys import is_valid_public_key, public_key
from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.script.standard import p2wsh

#: Commitment numbers are 48-bit.
MAX_COMMITMENT_NUMBER = (1 << 48) - 1


class Side(Enum):
    """A channel party, as seen from the holder of the commitment being built."""

    LOCAL = "local"
    REMOTE = "remote"

    def other(self) -> "Side":
        return Side.REMOTE if self is Side.LOCAL else Side.LOCAL


class HtlcDirection(Enum):
    """OFFERED: the holder pays it (HTLC-timeout path). RECEIVED: the holder is paid."""

    OFFERED = "offered"
    RECEIVED = "received"

    def other(self) -> "HtlcDirection":
        return HtlcDirection.RECEIVED if self is HtlcDirection.OFFERED else HtlcDirection.OFFERED


class OutputKind(Enum):
    TO_LOCAL = "to_local"
    TO_REMOTE = "to_remote"
    OFFERED_HTLC = "offered_htlc"
    RECEIVED_HTLC = "received_htlc"
    LOCAL_ANCHOR = "local_anchor"
    REMOTE_ANCHOR = "remote_anchor"


@dataclass(frozen=True)
class PartyConfig:
    """One party's public channel parameters, fixed at open (BOLT 2 open/accept_channel)."""

    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes
    #: CSV delay this party demands of the *other* party's to_local outputs.
    to_self_delay: int
    #: Outputs below this are left out of this party's own commitments.
    dust_limit_sat: int

    def __post_init__(self) -> None:
        """Keys are checked on the curve once here, so scripts need only a length check."""
        for name in ("funding_pubkey", "revocation_basepoint", "payment_basepoint",
                     "delayed_payment_basepoint", "htlc_basepoint"):
            key = getattr(self, name)
            if not isinstance(key, bytes) or len(key) != 33 or not is_valid_public_key(key):
                raise CommitmentError(f"{name} must be a valid 33-byte compressed public key")
        if not 0 <= self.to_self_delay <= 0xFFFF:
            raise CommitmentError(f"to_self_delay {self.to_self_delay} outside 0..65535")
        if self.dust_limit_sat < 0:
            raise CommitmentError("dust_limit_sat must not be negative")


@dataclass(frozen=True)
class ChannelKeys:
    """One party's channel secrets: the funding key, the four basepoint secrets and the seed
    of its per-commitment secrets. Never leaves the node; :meth:`config` gives the public half."""

    funding_privkey: bytes
    revocation_basepoint_secret: bytes
    payment_basepoint_secret: bytes
    delayed_payment_basepoint_secret: bytes
    htlc_basepoint_secret: bytes
    per_commitment_seed: bytes

    def config(self, to_self_delay: int, dust_limit_sat: int) -> PartyConfig:
        return PartyConfig(
            funding_pubkey=public_key(self.funding_privkey),
            revocation_basepoint=public_key(self.revocation_basepoint_secret),
            payment_basepoint=public_key(self.payment_basepoint_secret),
            delayed_payment_basepoint=public_key(self.delayed_payment_basepoint_secret),
            htlc_basepoint=public_key(self.htlc_basepoint_secret),
            to_self_delay=to_self_delay, dust_limit_sat=dust_limit_sat)

    def per_commitment_secret(self, commitment_number: int) -> bytes:
        return commitment_secret(self.per_commitment_seed, commitment_number)

    def per_commitment_point(self, commitment_number: int) -> bytes:
        return bolt3keys.per_commitment_point(self.per_commitment_secret(commitment_number))


@dataclass(frozen=True)
class Htlc:
    """An HTLC in a commitment. ``direction`` is relative to the commitment's holder; ``id`` is
    unique per offering side (an offered and a received HTLC may share an id)."""

    id: int
    direction: HtlcDirection
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int

    @property
    def amount_sat(self) -> int:
        return self.amount_msat // 1000

    def flipped(self) -> "Htlc":
        """The same HTLC as the other party sees it."""
        return replace(self, direction=self.direction.other())


@dataclass(frozen=True)
class CommitmentSpec:
    """What one commitment transaction pays, from its holder's point of view.

    Balances exclude HTLC amounts; the opener pays the commitment fee (and, with anchors, the
    two 330-sat anchors) out of its balance.
    """

    commitment_number: int
    to_local_msat: int
    to_remote_msat: int
    feerate_per_kw: int
    htlcs: tuple[Htlc, ...]
    opener: Side
    anchors: bool = False

    def for_counterparty(self, commitment_number: int | None = None) -> "CommitmentSpec":
        """The mirror spec for the other party's commitment (balances swapped, HTLC
        directions flipped, opener seen from the other side)."""
        return replace(self,
                       commitment_number=(self.commitment_number if commitment_number is None
                                          else commitment_number),
                       to_local_msat=self.to_remote_msat, to_remote_msat=self.to_local_msat,
                       htlcs=tuple(h.flipped() for h in self.htlcs), opener=self.opener.other())


@dataclass(frozen=True)
class Funding:
    """The channel's funding output: what every commitment and closing tx spends."""

    outpoint: OutPoint
    amount_sat: int
    local_funding_pubkey: bytes
    remote_funding_pubkey: bytes

    @property
    def witness_script(self) -> bytes:
        return funding_script(self.local_funding_pubkey, self.remote_funding_pubkey)

    @property
    def txout(self) -> TxOut:
        """The funding output itself (for ``verify_input``)."""
        return TxOut(self.amount_sat, p2wsh(self.witness_script))


@dataclass(frozen=True)
class CommitmentKeys:
    """Keys of one commitment, derived from both parties' basepoints and the holder's
    per-commitment point ("local" = holder, "remote" = counterparty)."""

    per_commitment_point: bytes
    revocation_pubkey: bytes
    local_delayed_pubkey: bytes
    local_htlc_pubkey: bytes
    remote_htlc_pubkey: bytes
    to_remote_pubkey: bytes
    local_funding_pubkey: bytes
    remote_funding_pubkey: bytes
    to_self_delay: int

    @classmethod
    def derive(cls, holder: PartyConfig, counterparty: PartyConfig,
               per_commitment_point: bytes) -> "CommitmentKeys":
        delayed, local_htlc, remote_htlc = bolt3keys.derive_pubkeys(
            (holder.delayed_payment_basepoint, holder.htlc_basepoint,
             counterparty.htlc_basepoint), per_commitment_point)
        return cls(
            per_commitment_point=per_commitment_point,
            revocation_pubkey=bolt3keys.derive_revocation_pubkey(
                counterparty.revocation_basepoint, per_commitment_point),
            local_delayed_pubkey=delayed, local_htlc_pubkey=local_htlc,
            remote_htlc_pubkey=remote_htlc,
            to_remote_pubkey=counterparty.payment_basepoint,
            local_funding_pubkey=holder.funding_pubkey,
            remote_funding_pubkey=counterparty.funding_pubkey,
            to_self_delay=counterparty.to_self_delay)

    def to_local_script(self) -> bytes:
        return to_local_script(self.revocation_pubkey, self.to_self_delay,
                               self.local_delayed_pubkey)

    def htlc_script(self, htlc: Htlc, anchors: bool) -> bytes:
        if htlc.direction is HtlcDirection.OFFERED:
            return offered_htlc_script(self.revocation_pubkey, self.remote_htlc_pubkey,
                                       self.local_htlc_pubkey, htlc.payment_hash, anchors)
        return received_htlc_script(self.revocation_pubkey, self.remote_htlc_pubkey,
                                    self.local_htlc_pubkey, htlc.payment_hash,
                                    htlc.cltv_expiry, anchors)


@dataclass(frozen=True)
class CommitmentOutput:
    """One output of a built commitment: what it is and how to spend it.

    ``witness_script`` is empty for the P2WPKH to_remote (spent with the key alone)."""

    index: int
    kind: OutputKind
    amount_sat: int
    script_pubkey: bytes
    witness_script: bytes
    htlc: Htlc | None = None

    @property
    def txout(self) -> TxOut:
        return TxOut(self.amount_sat, self.script_pubkey)


@dataclass(frozen=True)
class CommitmentTx:
    """An unsigned commitment transaction plus everything needed to sign or spend it."""

    tx: Transaction
    outputs: tuple[CommitmentOutput, ...]
    funding: Funding
    keys: CommitmentKeys
    spec: CommitmentSpec
    fee_sat: int
    obscured_number: int

    @property
    def txid(self) -> bytes:
        return self.tx.txid

    @property
    def anchors(self) -> bool:
        return self.spec.anchors

    def output_of(self, kind: OutputKind) -> CommitmentOutput | None:
        """The to_local / to_remote / anchor output, or None if trimmed or absent."""
        return next((o for o in self.outputs if o.kind is kind), None)

    def htlc_outputs(self) -> tuple[CommitmentOutput, ...]:
        """Untrimmed HTLC outputs, in transaction order."""
        return tuple(o for o in self.outputs if o.htlc is not None)

    def htlc_output(self, direction: HtlcDirection, htlc_id: int) -> CommitmentOutput:
        for out in self.outputs:
            if out.htlc is not None and out.htlc.direction is direction \
                    and out.htlc.id == htlc_id:
                return out
        raise CommitmentError(f"no untrimmed {direction.value} HTLC {htlc_id} in commitment")
