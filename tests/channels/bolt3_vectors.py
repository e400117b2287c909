"""Shared loader for the BOLT 3 vectors: turns ``commitment_txs.json`` into our data model.

The vectors stay in ``../shared/vectors/bolt3`` (read through ``tests/vector_files.py``); tests
that need them skip with a message when the folder is absent.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ for vector_files

from vector_files import load_vector_json  # noqa: E402

from wattchain.channels.commitment import (CommitmentSpec, Funding, Htlc,  # noqa: E402
                                           HtlcDirection, PartyConfig, Side)
from wattchain.core.hashes import sha256  # noqa: E402
from wattchain.core.tx import OutPoint, hex_to_txid  # noqa: E402


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@dataclass(frozen=True)
class Bolt3Setup:
    """Appendix C's channel: local is the holder and the opener."""

    data: dict
    funding: Funding
    local: PartyConfig
    remote: PartyConfig
    per_commitment_point: bytes
    htlcs: dict[int, Htlc]
    preimages: dict[int, bytes]
    secrets: dict[str, bytes]

    def spec(self, to_local_msat: int, to_remote_msat: int, feerate: int,
             htlc_ids: list[int], anchors: bool) -> CommitmentSpec:
        return CommitmentSpec(
            commitment_number=self.data["params"]["commitment_number"],
            to_local_msat=to_local_msat, to_remote_msat=to_remote_msat,
            feerate_per_kw=feerate, htlcs=tuple(self.htlcs[i] for i in htlc_ids),
            opener=Side.LOCAL, anchors=anchors)


def load_setup() -> Bolt3Setup:
    data = load_vector_json("bolt3", "commitment_txs.json")
    params, keys = data["params"], data["keys"]
    funding = Funding(OutPoint(hex_to_txid(params["funding_txid"]),
                               params["funding_output_index"]),
                      params["funding_sat"], h(keys["local_funding_pubkey"]),
                      h(keys["remote_funding_pubkey"]))
    # Basepoints the local commitment never uses (local revocation, remote delayed) are not in
    # the vectors; any valid point does.
    local = PartyConfig(
        funding_pubkey=h(keys["local_funding_pubkey"]),
        revocation_basepoint=h(keys["local_payment_basepoint"]),
        payment_basepoint=h(keys["local_payment_basepoint"]),
        delayed_payment_basepoint=h(keys["local_delayed_payment_basepoint"]),
        htlc_basepoint=h(keys["local_htlc_basepoint"]),
        to_self_delay=6, dust_limit_sat=params["dust_limit_sat"])
    remote = PartyConfig(
        funding_pubkey=h(keys["remote_funding_pubkey"]),
        revocation_basepoint=h(keys["remote_revocation_basepoint"]),
        payment_basepoint=h(keys["remote_payment_basepoint"]),
        delayed_payment_basepoint=h(keys["remote_payment_basepoint"]),
        htlc_basepoint=h(keys["remote_htlc_basepoint"]),
        to_self_delay=params["to_self_delay"], dust_limit_sat=params["dust_limit_sat"])
    htlcs: dict[int, Htlc] = {}
    preimages: dict[int, bytes] = {}
    for item in data["htlcs"]:
        preimage = h(item["preimage"])
        direction = (HtlcDirection.OFFERED if item["offered_by_local"]
                     else HtlcDirection.RECEIVED)
        htlcs[item["id"]] = Htlc(item["id"], direction, item["amount_msat"], sha256(preimage),
                                 item["cltv_expiry"])
        preimages[item["id"]] = preimage
    return Bolt3Setup(data, funding, local, remote, h(keys["local_per_commitment_point"]),
                      htlcs, preimages, {k: h(v) for k, v in data["secrets"].items()})
