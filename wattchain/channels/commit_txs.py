"""BOLT 3 transactions of one channel, built from its state: the bridge to part A.

Why a separate module: the state machine (``state.py``) is bookkeeping — which HTLCs and
balances each commitment holds; this module turns that into part A's ``CommitmentSpec`` /
``PartyConfig`` / ``Funding`` and calls its builders and signers, so neither side knows the
other's internals. ``LOCAL``/``REMOTE`` (the state machine's sides) become part A's holder /
counterparty arguments here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattchain.channels import commitment as bolt3
from wattchain.channels.errors import ChannelError, SignatureError
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.keys import derive_privkey, per_commitment_point
from wattchain.core.tx import OutPoint, Transaction

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.state import Channel


class ChannelTxs:
    """Builds, signs and verifies the transactions of one :class:`Channel`."""

    def __init__(self, chan: "Channel") -> None:
        self.chan = chan
        s = chan.secrets
        local_bp = s.basepoints()
        rb = chan.remote_basepoints
        self.local_config = bolt3.PartyConfig(
            local_bp.funding_pubkey, local_bp.revocation_basepoint, local_bp.payment_basepoint,
            local_bp.delayed_payment_basepoint, local_bp.htlc_basepoint,
            chan.local_params.to_self_delay, chan.local_params.dust_limit_sat)
        self.remote_config = bolt3.PartyConfig(
            rb.funding_pubkey, rb.revocation_basepoint, rb.payment_basepoint,
            rb.delayed_payment_basepoint, rb.htlc_basepoint,
            chan.remote_params.to_self_delay, chan.remote_params.dust_limit_sat)
        outpoint = OutPoint(chan.funding_txid, chan.funding_index)
        self.funding = {
            LOCAL: bolt3.Funding(outpoint, chan.funding_sat, local_bp.funding_pubkey,
                                 rb.funding_pubkey),
            REMOTE: bolt3.Funding(outpoint, chan.funding_sat, rb.funding_pubkey,
                                  local_bp.funding_pubkey),
        }
        self.configs = {LOCAL: (self.local_config, self.remote_config),
                        REMOTE: (self.remote_config, self.local_config)}

    # ------------------------------------------------------------------ building
    def point(self, subject: str, ctn: int) -> bytes:
        if subject == LOCAL:
            return self.chan.secrets.point(ctn)
        point = self.chan.remote_points.get(ctn)
        if point is None:
            secret = self.chan.remote_secrets.get_commitment_secret(ctn)
            if secret is None:
                raise ChannelError(f"no per-commitment point for remote commitment {ctn}")
            point = per_commitment_point(secret)
        return point

    def spec(self, subject: str, ctn: int) -> bolt3.CommitmentSpec:
        chan = self.chan
        counter = REMOTE if subject == LOCAL else LOCAL
        htlcs = tuple(bolt3.Htlc(e.htlc.id, bolt3.HtlcDirection.OFFERED
                                 if e.htlc.proposer == subject else bolt3.HtlcDirection.RECEIVED,
                                 e.htlc.amount_msat, e.htlc.payment_hash, e.htlc.cltv_expiry)
                      for e in chan.log.htlcs_in(subject, ctn))
        delta = chan.log.balance_delta_msat(subject, ctn)
        return bolt3.CommitmentSpec(
            ctn, chan.initial_balance_msat(subject) + delta[subject],
            chan.initial_balance_msat(counter) + delta[counter],
            chan.feerate_per_kw, htlcs,
            bolt3.Side.LOCAL if chan.opener == subject else bolt3.Side.REMOTE)

    def commitment(self, subject: str, ctn: int) -> bolt3.CommitmentTx:
        holder, counterparty = self.configs[subject]
        return bolt3.build_commitment_tx(self.funding[subject], holder, counterparty,
                                         self.spec(subject, ctn), self.point(subject, ctn))

    def max_commit_fee_sat(self) -> int:
        """An upper bound of the next commitments' fee with one more HTLC: every active HTLC
        counted as untrimmed (cheap, and never lets the opener overspend its fee money)."""
        return bolt3.commitment_fee_sat(self.chan.feerate_per_kw, len(self.chan.log.active) + 1,
                                        False)

    # ------------------------------------------------------------------ signatures
    def sign_remote(self, ctn: int) -> tuple[bytes, list[bytes]]:
        """Our funding signature on the remote's commitment ``ctn`` and our HTLC-key
        signatures on its second-stage HTLC txs (in output order)."""
        c = self.commitment(REMOTE, ctn)
        sig = bolt3.sign_commitment(c, self.chan.secrets.funding)
        htlc_key = derive_privkey(self.chan.secrets.htlc_base, c.keys.per_commitment_point)
        htlc_sigs = [bolt3.sign_htlc_tx(h, htlc_key, as_counterparty=True)
                     for h in bolt3.build_htlc_txs(c)]
        return sig, htlc_sigs

    def verify_local(self, ctn: int, sig: bytes, htlc_sigs: list[bytes]) -> bolt3.CommitmentTx:
        """Check the counterparty's signatures on our commitment ``ctn``; ProtocolError if
        any is wrong (BOLT 2: the channel must then be failed)."""
        from wattchain.channels.state import ProtocolError
        c = self.commitment(LOCAL, ctn)
        try:
            bolt3.verify_commitment_signature(c, self.remote_config.funding_pubkey, sig)
            htlc_txs = bolt3.build_htlc_txs(c)
            if len(htlc_txs) != len(htlc_sigs):
                raise ProtocolError(f"commitment_signed carries {len(htlc_sigs)} htlc "
                                    f"signatures for {len(htlc_txs)} htlc outputs")
            if htlc_txs:
                remote_htlc_pub = c.keys.remote_htlc_pubkey
                for h, s in zip(htlc_txs, htlc_sigs):
                    bolt3.verify_htlc_signature(h, remote_htlc_pub, s, as_counterparty=True)
        except SignatureError as exc:
            raise ProtocolError(f"bad commitment signature: {exc}") from exc
        return c

    def signed_local_commitment(self) -> Transaction:
        """Our latest commitment with both signatures: what a unilateral close broadcasts."""
        c = self.commitment(LOCAL, self.chan.log.latest[LOCAL])
        ours = bolt3.sign_commitment(c, self.chan.secrets.funding)
        return bolt3.signed_commitment_tx(c, ours, self.chan.local_sig)

    # ------------------------------------------------------------------ closing
    def _closing(self, fee_sat: int) -> object:
        from wattchain.channels import onchain
        chan = self.chan
        bal = chan.closing_balances_msat()
        assert chan.local_shutdown_script is not None and chan.remote_shutdown_script is not None
        return onchain.build_closing_tx(
            self.funding[LOCAL], chan.local_shutdown_script, chan.remote_shutdown_script,
            bal[LOCAL], bal[REMOTE], fee_sat,
            bolt3.Side.LOCAL if chan.opener == LOCAL else bolt3.Side.REMOTE,
            max(chan.local_params.dust_limit_sat,
                               chan.remote_params.dust_limit_sat))

    def sign_closing(self, fee_sat: int) -> bytes:
        from wattchain.channels import onchain
        return onchain.sign_closing_tx(self._closing(fee_sat), self.chan.secrets.funding)

    def verify_closing(self, fee_sat: int, sig: bytes) -> None:
        from wattchain.channels import onchain
        from wattchain.channels.state import ProtocolError
        try:
            onchain.verify_closing_signature(self._closing(fee_sat),
                                             self.remote_config.funding_pubkey, sig)
        except SignatureError as exc:
            raise ProtocolError(f"bad closing signature: {exc}") from exc

    def closing_tx(self, fee_sat: int, remote_sig: bytes) -> Transaction:
        from wattchain.channels import onchain
        closing = self._closing(fee_sat)
        ours = onchain.sign_closing_tx(closing, self.chan.secrets.funding)
        return onchain.signed_closing_tx(closing, ours, remote_sig)
