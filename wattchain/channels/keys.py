"""BOLT 3 key derivation: every key of a commitment is a basepoint tweaked per commitment.

Why tweaking: each commitment transaction must use fresh keys so that a revoked commitment can
be punished (the revocation key is only computable once the per-commitment secret is revealed)
while the basepoints — exchanged once at channel open — stay fixed. All point arithmetic goes
through libsecp256k1 (coincurve); nothing here does hand-written EC math.

* ``pubkey = basepoint + SHA256(per_commitment_point || basepoint)·G``
* ``privkey = basepoint_secret + SHA256(per_commitment_point || basepoint)``
* ``revocationpubkey = revocation_basepoint·SHA256(revocation_basepoint || per_commitment_point)
  + per_commitment_point·SHA256(per_commitment_point || revocation_basepoint)``
* ``revocationprivkey`` is the same sum over the two secrets.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey

from wattchain.channels.errors import KeyDerivationError
from wattchain.core.hashes import sha256


def _pub(point: bytes, what: str) -> PublicKey:
    try:
        return PublicKey(bytes(point))
    except (ValueError, TypeError) as exc:
        raise KeyDerivationError(f"{what} is not a valid public key") from exc


def _priv(secret: bytes, what: str) -> PrivateKey:
    if len(secret) != 32:
        raise KeyDerivationError(f"{what} must be 32 bytes, got {len(secret)}")
    try:
        return PrivateKey(bytes(secret))
    except (ValueError, TypeError) as exc:
        raise KeyDerivationError(f"{what} is not a valid secp256k1 scalar") from exc


def _compressed(point: bytes, what: str) -> bytes:
    """Tweaks hash the 33-byte compressed form, whatever encoding the caller passed."""
    return _pub(point, what).format(compressed=True)


def per_commitment_point(secret: bytes) -> bytes:
    """The compressed point ``secret·G`` published for a commitment (BOLT 3)."""
    return _priv(secret, "per-commitment secret").public_key.format(compressed=True)


def pubkey_tweak(basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """``SHA256(per_commitment_point || basepoint)``: the scalar added to a basepoint."""
    return sha256(_compressed(per_commitment_point, "per-commitment point")
                  + _compressed(basepoint, "basepoint"))


def _tweaked(base: PublicKey, pcp: bytes) -> bytes:
    """``base + SHA256(pcp || base)·G`` for an already parsed basepoint and a compressed,
    already validated point (each key is parsed once: parsing costs a square root)."""
    tweak = sha256(pcp + base.format(compressed=True))
    try:
        return base.add(tweak).format(compressed=True)
    except ValueError as exc:  # tweak >= n or result at infinity: astronomically unlikely
        raise KeyDerivationError("tweaked basepoint is invalid") from exc


def derive_pubkey(basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """localpubkey / remotepubkey / htlcpubkey / delayedpubkey for one commitment."""
    pcp = _compressed(per_commitment_point, "per-commitment point")
    return _tweaked(_pub(basepoint, "basepoint"), pcp)


def derive_pubkeys(basepoints: tuple[bytes, ...], per_commitment_point: bytes
                   ) -> tuple[bytes, ...]:
    """:func:`derive_pubkey` for several basepoints and one point (parsed once)."""
    pcp = _compressed(per_commitment_point, "per-commitment point")
    return tuple(_tweaked(_pub(bp, "basepoint"), pcp) for bp in basepoints)


def derive_privkey(base_secret: bytes, per_commitment_point: bytes) -> bytes:
    """The private key matching :func:`derive_pubkey` for ``base_secret·G``."""
    base = _priv(base_secret, "basepoint secret")
    tweak = pubkey_tweak(base.public_key.format(compressed=True), per_commitment_point)
    try:
        return base.add(tweak).secret
    except ValueError as exc:
        raise KeyDerivationError("tweaked basepoint secret is invalid") from exc


def derive_revocation_pubkey(revocation_basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """The revocation pubkey: neither side alone knows its secret until the commitment's
    per-commitment secret is revealed (then only the revocation basepoint's owner does)."""
    rev_key = _pub(revocation_basepoint, "revocation basepoint")
    pcp_key = _pub(per_commitment_point, "per-commitment point")
    rev, pcp = rev_key.format(compressed=True), pcp_key.format(compressed=True)
    try:
        left = rev_key.multiply(sha256(rev + pcp))
        right = pcp_key.multiply(sha256(pcp + rev))
        return PublicKey.combine_keys([left, right]).format(compressed=True)
    except ValueError as exc:
        raise KeyDerivationError("revocation pubkey derivation failed") from exc


def derive_revocation_privkey(revocation_base_secret: bytes,
                              per_commitment_secret: bytes) -> bytes:
    """The revocation private key, computable once the counterparty revealed
    ``per_commitment_secret`` for a commitment it has since revoked."""
    base = _priv(revocation_base_secret, "revocation basepoint secret")
    pcs = _priv(per_commitment_secret, "per-commitment secret")
    rev = base.public_key.format(compressed=True)
    pcp = pcs.public_key.format(compressed=True)
    tweak_rev, tweak_pcp = sha256(rev + pcp), sha256(pcp + rev)
    try:
        left = base.multiply(tweak_rev)
        right = pcs.multiply(tweak_pcp)
        return left.add(right.secret).secret
    except ValueError as exc:
        raise KeyDerivationError("revocation privkey derivation failed") from exc
