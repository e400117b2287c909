"""A 2-of-3 P2WSH multisig spend approved by two wallets through PSBT (BIP174 round trip),
verified input by input with the interpreter and connected in a block on a real chainstate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from wattchain.core.tx import COIN, Transaction
from wattchain.script.address import script_from_address
from wattchain.script.flags import STANDARD_FLAGS
from wattchain.script.verify import verify_input
from wattchain.wallet.errors import PsbtError, PsbtMismatch
from wattchain.wallet.psbt import Psbt
from wattchain.wallet.wallet import Wallet

from .helpers import MNEMONIC_A, MNEMONIC_B, MNEMONIC_C, Chain, open_wallet

FEE_RATE = 1_500


@pytest.fixture
def chain(tmp_path: Path):
    chain = Chain(tmp_path)
    yield chain
    chain.close()


def _pubkey(wallet: Wallet) -> str:
    return wallet.get_address_info(wallet.get_new_address())["pubkey"]


def test_two_of_three_multisig_through_psbt(tmp_path: Path, chain: Chain) -> None:
    alice = open_wallet(tmp_path / "a", chain, MNEMONIC_A)
    bob = open_wallet(tmp_path / "b", chain, MNEMONIC_B)
    carol = open_wallet(tmp_path / "c", chain, MNEMONIC_C)
    keys = [_pubkey(alice), _pubkey(bob), _pubkey(carol)]
    made = [w.add_multisig_address(2, keys, label="shared") for w in (alice, bob)]
    assert made[0] == made[1] == carol.create_multisig(2, keys)
    ms_address = made[0]["address"]
    ms_script = script_from_address(ms_address, alice.fmt)
    assert ms_script[:2] == b"\x00\x20"  # P2WSH
    info = alice.get_address_info(ms_address)
    assert info["sigsrequired"] == 2 and info["pubkeys"] == keys and not info["ismine"]

    alice.attach(chain.cs)
    chain.mine([chain.payment(ms_script, 4 * COIN)])
    # Alice holds one of two required keys: the coin is watch-only (solvable) for her.
    assert alice.get_balances()["watchonly"]["trusted"] == Decimal(4)
    assert alice.get_balances()["mine"]["trusted"] == 0
    [row] = alice.list_unspent()
    assert row["solvable"] and not row["spendable"] and "witnessScript" in row

    dest = bob.get_new_address()
    created = alice.wallet_create_funded_psbt({dest: 3 * COIN}, FEE_RATE,
                                              change_address=ms_address)
    assert created["changepos"] in (0, 1)
    decoded = alice.decode_psbt(created["psbt"])
    assert decoded["inputs"][0]["witness_utxo"]["amount"] == Decimal(4)
    assert decoded["inputs"][0]["witness_script"]["type"] == "multisig"
    assert decoded["fee"] == created["fee"]
    assert {d["path"] for d in decoded["inputs"][0]["bip32_derivs"]} == {"m/84'/1'/0'/0/0"}

    # Alice and Bob sign independently; Carol's key is not needed.
    signed_a = alice.wallet_process_psbt(created["psbt"])
    signed_b = bob.wallet_process_psbt(created["psbt"])
    assert not signed_a["complete"] and not signed_b["complete"]
    assert len(alice.decode_psbt(signed_a["psbt"])["inputs"][0]["partial_signatures"]) == 1
    combined = Wallet.combine_psbt([signed_a["psbt"], signed_b["psbt"]])
    assert len(alice.decode_psbt(combined)["inputs"][0]["partial_signatures"]) == 2
    final = Wallet.finalize_psbt(combined)
    assert final["complete"]
    tx = Transaction.from_hex(final["hex"])
    # Sequential signing reaches the same final transaction.
    again = bob.wallet_process_psbt(signed_a["psbt"])
    assert again["complete"] and again["hex"] == final["hex"]

    spent = Psbt.from_base64(created["psbt"]).spent_output(0)
    for index in range(len(tx.inputs)):
        verify_input(tx, index, spent, STANDARD_FLAGS)
    alice.transaction_added(tx)
    chain.mine([tx])
    assert chain.cs.get_coin(tx.inputs[0].prevout) is None
    change = [o for o in tx.outputs if o.script_pubkey == ms_script]
    assert alice.get_balances()["watchonly"]["trusted"] == Decimal(change[0].value) / COIN
    bob.attach(chain.cs)
    assert bob.get_balances()["mine"]["trusted"] == Decimal(3)
    for wallet in (alice, bob, carol):
        wallet.close()


def test_combining_different_transactions_is_refused(tmp_path: Path, chain: Chain) -> None:
    alice = open_wallet(tmp_path / "a", chain)
    alice.attach(chain.cs)
    chain.mine([chain.payment(script_from_address(alice.get_new_address(), alice.fmt), COIN)])
    one = alice.wallet_create_funded_psbt({alice.get_new_address(): COIN // 4}, FEE_RATE)
    two = alice.wallet_create_funded_psbt({alice.get_new_address(): COIN // 3}, FEE_RATE)
    with pytest.raises(PsbtMismatch) as err:
        Wallet.combine_psbt([one["psbt"], two["psbt"]])
    assert err.value.rpc_code == -8
    with pytest.raises(PsbtError) as bad:
        Wallet.finalize_psbt("not base64!")
    assert bad.value.rpc_code == -22
    # A single-key spend completes in one walletprocesspsbt call.
    done = alice.wallet_process_psbt(one["psbt"])
    assert done["complete"]
    tx = Transaction.from_hex(done["hex"])
    chain.mine([tx])
    alice.close()
