"""Build the example in ``multisig_spend.json``: a signed transaction spending a 2-of-3 P2WSH
multisig output and a P2WPKH output, with fixed keys so the file is reproducible.

    python examples/make_multisig_spend.py > examples/multisig_spend.json
"""

from __future__ import annotations

import json

from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.sign import KeyStore, sign_transaction
from wattchain.script.standard import multisig, p2wpkh, p2wsh


def main() -> None:
    keys = [sha256(f"wattchain example key {i}".encode()) for i in range(4)]
    pubkeys = [public_key(k) for k in keys]
    store = KeyStore()
    # Two of the three multisig keys sign (a battery owner and the platform); key 3 is a wallet.
    for key in (keys[0], keys[2], keys[3]):
        store.add_key(key)
    witness_script = multisig(2, pubkeys[:3])
    store.add_script(witness_script)
    spent = [TxOut(150_000_000, p2wsh(witness_script)), TxOut(25_000_000, p2wpkh(hash160(pubkeys[3])))]
    funding = sha256(b"wattchain example funding")
    unsigned = Transaction(
        version=2,
        inputs=(TxIn(OutPoint(funding, 0), sequence=0xFFFFFFFD),
                TxIn(OutPoint(funding, 1), sequence=0xFFFFFFFD)),
        outputs=(TxOut(170_000_000, p2wpkh(hash160(pubkeys[3]))),),
        locktime=0,
    )
    signed = sign_transaction(unsigned, spent, store)
    print(json.dumps({
        "tx": signed.serialize().hex(),
        "prevouts": [{"script_pubkey": o.script_pubkey.hex(), "amount": o.value} for o in spent],
    }, indent=2))


if __name__ == "__main__":
    main()
