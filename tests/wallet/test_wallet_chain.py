"""The wallet following a real chainstate: credits, debits, confirmations, maturity of stakes,
reorgs, restarts, rescans, and sending."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from wattchain.core.tx import COIN, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Spendable, sign_transaction
from wattchain.script.address import encode_wif, script_from_address
from wattchain.wallet.errors import InsufficientFunds, InvalidAddressOrKey, WalletError
from wattchain.wallet.wallet import Wallet

from .helpers import MNEMONIC_A, MNEMONIC_B, Chain, open_wallet

FEE_RATE = 2_000  # base units per 1000 vB


@pytest.fixture
def chain(tmp_path: Path):
    chain = Chain(tmp_path)
    yield chain
    chain.close()


def _script(wallet: Wallet, address: str) -> bytes:
    return script_from_address(address, wallet.fmt)


def test_receive_confirm_and_balances(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    address = wallet.get_new_address("salary")
    tx = chain.payment(_script(wallet, address), 3 * COIN)
    assert wallet.transaction_added(tx)  # as the mempool would announce it
    balances = wallet.get_balances()["mine"]
    assert balances["untrusted_pending"] == Decimal("3")
    assert balances["trusted"] == 0
    chain.mine([tx])
    balances = wallet.get_balances()["mine"]
    assert balances["trusted"] == Decimal("3") and balances["untrusted_pending"] == 0
    [row] = wallet.list_unspent()
    assert row["address"] == address and row["label"] == "salary"
    assert row["amount"] == Decimal("3") and row["confirmations"] == 1
    assert row["spendable"] and row["solvable"] and row["safe"]
    chain.mine()
    assert wallet.list_unspent()[0]["confirmations"] == 2
    [entry] = wallet.list_transactions()
    assert entry["category"] == "receive" and entry["amount"] == Decimal("3")
    assert entry["confirmations"] == 2 and entry["blockheight"] == 1
    info = wallet.wallet_info("w")
    assert info["balance"] == Decimal("3") and info["txcount"] == 1
    assert info["keypoolsize"] == 20 and "unlocked_until" not in info
    wallet.close()


def test_send_spends_and_tracks_change_then_confirms(tmp_path: Path, chain: Chain) -> None:
    alice = open_wallet(tmp_path / "a", chain)
    bob = open_wallet(tmp_path / "b", chain, MNEMONIC_B)
    alice.attach(chain.cs)
    bob.attach(chain.cs)
    chain.mine([chain.payment(_script(alice, alice.get_new_address()), 5 * COIN)])
    bob_address = bob.get_new_address()
    tx = alice.send_to_address(bob_address, 2 * COIN, FEE_RATE)
    # RBF on by default, anti-fee-sniping locktime, exact fee for the estimated size.
    assert all(txin.sequence == 0xFFFFFFFD for txin in tx.inputs)
    assert tx.locktime == chain.cs.tip.height
    fee = 5 * COIN - tx.total_output_value()
    assert FEE_RATE * tx.vsize // 1000 <= fee <= FEE_RATE * (tx.vsize + 1) // 1000 + 1
    # The wallet recorded its own tx: inputs spent, change trusted even before confirmation.
    mine = alice.get_balances()["mine"]
    assert mine["trusted"] == Decimal(5 * COIN - 2 * COIN - fee) / COIN
    bob.transaction_added(tx)
    assert bob.get_balances()["mine"]["untrusted_pending"] == Decimal(2)
    chain.mine([tx])
    assert bob.get_balances()["mine"]["trusted"] == Decimal(2)
    sends = [row for row in alice.list_transactions() if row["category"] == "send"]
    assert len(sends) == 1 and sends[0]["address"] == bob_address
    assert sends[0]["amount"] == Decimal(-2) and sends[0]["fee"] == -Decimal(fee) / COIN
    with pytest.raises(InsufficientFunds) as err:
        alice.send_to_address(bob_address, 100 * COIN, FEE_RATE)
    assert err.value.rpc_code == -6
    with pytest.raises(InvalidAddressOrKey) as bad:
        alice.send_to_address("bc1qnotanaddress", COIN, FEE_RATE)
    assert bad.value.rpc_code == -5
    alice.close()
    bob.close()


def test_subtract_fee_from_amount_sends_everything(tmp_path: Path, chain: Chain) -> None:
    alice = open_wallet(tmp_path / "a", chain)
    alice.attach(chain.cs)
    chain.mine([chain.payment(_script(alice, alice.get_new_address()), 1 * COIN)])
    dest = alice.create_multisig(1, [chain.keys[0].pubkey.hex()])["address"]
    tx = alice.send_to_address(dest, 1 * COIN, FEE_RATE, subtract_fee_from_amount=True)
    assert len(tx.outputs) == 1 and tx.outputs[0].value < COIN
    assert alice.get_balances()["mine"]["trusted"] == 0
    alice.close()


def test_reorg_unconfirms_and_drops_orphaned_stakes(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    chain.mine()
    pay = chain.payment(_script(wallet, wallet.get_new_address()), 2 * COIN)
    fork_point = chain.branch.fork()  # after payment(): the fork will not stake its input
    chain.mine([pay])
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(2)
    # A longer competing branch without the payment: the wallet sees it unconfirmed again.
    chain.mine(branch=fork_point)
    chain.mine(branch=fork_point)
    assert chain.cs.tip.hash == fork_point.tip.hash
    balances = wallet.get_balances()["mine"]
    assert balances["trusted"] == 0 and balances["untrusted_pending"] == Decimal(2)
    [row] = wallet.list_transactions()
    assert row["confirmations"] == 0 and "blockhash" not in row
    # ...and confirmed again when it is mined on the new branch.
    chain.mine([pay], branch=fork_point)
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(2)
    assert wallet.list_transactions()[0]["blockheight"] == 4
    wallet.close()


def test_restart_and_catch_up(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    addresses = [wallet.get_new_address() for _ in range(3)]
    chain.mine([chain.payment(_script(wallet, addresses[1]), 4 * COIN)])
    before = (wallet.get_balances(), wallet.list_unspent(), wallet.list_transactions())
    wallet.close()
    # Blocks arrive while the wallet is closed; one pays it.
    late = chain.payment(_script(wallet, addresses[2]), COIN)
    chain.mine([late])
    reopened = Wallet.open(tmp_path / "w", chain.params, sync=False, rng=random.Random(1))
    assert reopened.list_unspent() == before[1]
    assert reopened.get_balances() == before[0]
    assert reopened.list_transactions() == before[2]
    reopened.attach(chain.cs)  # catches up from its stored best block
    assert reopened.get_balances()["mine"]["trusted"] == Decimal(5)
    # Address issuance continued where it stopped.
    assert reopened.get_new_address() not in addresses
    reopened.close()


def test_restore_from_mnemonic_finds_history_within_gap(tmp_path: Path, chain: Chain) -> None:
    original = open_wallet(tmp_path / "w1", chain)
    original.attach(chain.cs)
    addresses = [original.get_new_address() for _ in range(15)]
    chain.mine([chain.payment(_script(original, addresses[14]), 2 * COIN)])
    original.close()
    restored = open_wallet(tmp_path / "w2", chain)  # same mnemonic
    restored.attach(chain.cs)  # a restored wallet rescans from the genesis
    assert restored.get_balances()["mine"]["trusted"] == Decimal(2)
    # The used index moved the issued counter: the next address is the 16th.
    assert restored.get_new_address() not in addresses
    fresh = Wallet.create(tmp_path / "w3", chain.params, mnemonic=MNEMONIC_A, sync=False)
    assert [fresh.get_new_address() for _ in range(15)] == addresses
    fresh.close()
    restored.close()


def test_staked_blocks_count_as_stake_until_mature(tmp_path: Path, chain: Chain) -> None:
    # The wallet imports both stakers' keys, so every coinstake is its own. Generated chains
    # use maturity 1; the wallet is given maturity 3 to see the immature window.
    params = replace(chain.params, coinbase_maturity=3)
    wallet = Wallet.create(tmp_path / "w", params, mnemonic=MNEMONIC_A, sync=False)
    for key in chain.keys:
        wallet.import_privkey(encode_wif(key.secret, params.address_format))
    wallet.attach(chain.cs)
    premine = Decimal(sum(value for _, value in chain.params.premine)) / COIN
    subsidy = Decimal(chain.params.block_subsidy(1)) / COIN
    balances = wallet.get_balances()["mine"]
    # Genesis premine outputs are mature at once (consensus: the chain's first stakes).
    assert balances["trusted"] == premine and balances["immature"] == 0
    chain.mine()
    chain.mine()
    balances = wallet.get_balances()["mine"]
    assert balances["immature"] == 0 and balances["stake"] > 0
    # Value is conserved: what was staked sits in immature coinstakes with its rewards.
    assert balances["trusted"] + balances["stake"] == premine + 2 * subsidy
    generated = [r for r in wallet.list_transactions(100) if r.get("generated")]
    assert generated[-1]["category"] == "immature" and generated[-1]["amount"] == subsidy
    chain.mine()
    chain.mine()
    balances = wallet.get_balances()["mine"]
    assert balances["trusted"] + balances["stake"] == premine + 4 * subsidy
    generated = [r for r in wallet.list_transactions(100) if r.get("generated")]
    assert [r["category"] for r in generated[-4:]] == ["generate", "generate", "immature",
                                                       "immature"]
    info = wallet.wallet_info()
    assert info["stake"] == balances["stake"]
    wallet.close()


def test_locked_coins_and_errors(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    chain.mine([chain.payment(_script(wallet, wallet.get_new_address()), COIN)])
    [coin] = wallet.ledger.coins()
    wallet.lock_unspent(False, [coin.outpoint])
    assert wallet.list_unspent() == []
    with pytest.raises(InsufficientFunds):
        wallet.send_to_address(wallet.get_new_address(), COIN // 2, FEE_RATE)
    wallet.lock_unspent(True)
    assert len(wallet.list_unspent()) == 1
    with pytest.raises(WalletError, match="too small"):
        wallet.send_to_address(wallet.get_new_address(), 100, FEE_RATE)
    wallet.close()


def test_wallet_transactions_pass_the_real_mempool(tmp_path: Path, chain: Chain) -> None:
    from wattchain.node.mempool import Mempool
    pool = Mempool(chain.cs)
    wallet = open_wallet(tmp_path / "w", chain)
    incoming = chain.payment(_script(wallet, wallet.get_new_address()), 3 * COIN)
    pool.accept(incoming, now=chain.now)
    wallet.attach(chain.cs, pool)  # picks up the pool's content, then listens
    assert wallet.get_balances()["mine"]["untrusted_pending"] == Decimal(3)
    second_incoming = chain.payment(_script(wallet, wallet.get_new_address()), 2 * COIN)
    pool.accept(second_incoming, now=chain.now)
    assert wallet.get_balances()["mine"]["untrusted_pending"] == Decimal(5)
    chain.mine([incoming, second_incoming])
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(5)
    assert len(pool) == 0
    tx = wallet.send_many({wallet.create_multisig(1, [chain.keys[0].pubkey.hex()])["address"]:
                           COIN, chain_address(chain, wallet): COIN // 2}, 1_000)
    result = pool.accept(tx, now=chain.now)
    assert pool.contains(tx.txid), result
    # The unconfirmed change is trusted: a second spend chains on it and is accepted too.
    second = wallet.send_to_address(chain_address(chain, wallet), 3 * COIN,
                                     1_000)
    assert any(txin.prevout.txid == tx.txid for txin in second.inputs)
    pool.accept(second, now=chain.now)
    assert pool.contains(second.txid)
    chain.mine([tx, second])
    assert not pool.contains(tx.txid)
    assert all(row["confirmations"] == 1 for row in wallet.list_transactions()[-2:])
    wallet.close()


def chain_address(chain: Chain, wallet: Wallet) -> str:
    from wattchain.script.address import address_from_script
    return address_from_script(chain.keys[1].script_pubkey, wallet.fmt)


def test_abandon_frees_the_inputs(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    chain.mine([chain.payment(_script(wallet, wallet.get_new_address()), 2 * COIN)])
    tx = wallet.send_to_address(chain_address(chain, wallet), COIN, 1_000)
    child = wallet.send_to_address(chain_address(chain, wallet), COIN // 2, 1_000)
    assert any(txin.prevout.txid == tx.txid for txin in child.inputs)
    assert wallet.get_balances()["mine"]["trusted"] < 1
    wallet.abandon_transaction(tx.txid)  # never broadcast: give the coin back
    assert tx.txid not in wallet.ledger.txs and child.txid not in wallet.ledger.txs
    assert len(wallet.ledger.txs) == 1
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(2)
    with pytest.raises(WalletError, match="not eligible"):
        wallet.abandon_transaction(wallet.ledger.coins()[0].outpoint.txid)
    with pytest.raises(InvalidAddressOrKey):
        wallet.abandon_transaction(bytes(32))
    wallet.close()


def test_fresh_wallet_starts_at_the_tip(tmp_path: Path, chain: Chain) -> None:
    for _ in range(3):
        chain.mine()
    fresh = Wallet.create(tmp_path / "w", chain.params, sync=False)
    assert fresh.new_mnemonic is not None and len(fresh.new_mnemonic.split()) == 24
    read = []
    original = chain.cs.read_block
    chain.cs.read_block = lambda entry: read.append(entry.height) or original(entry)
    fresh.attach(chain.cs)
    assert read == [3]  # only the tip: nothing older can pay a brand-new seed
    assert fresh.ledger.tip_height == chain.cs.tip.height == 3
    assert fresh.get_mnemonic() == fresh.new_mnemonic
    fresh.close()


def test_reorg_while_closed_is_undone_on_reopen(tmp_path: Path, chain: Chain) -> None:
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    chain.mine()
    pay = chain.payment(_script(wallet, wallet.get_new_address()), 2 * COIN)
    later = _script(wallet, wallet.get_new_address())
    fork = chain.branch.fork()
    chain.mine([pay])
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(2)
    wallet.close()
    other = chain.payment(later, COIN, branch=fork)
    chain.mine([other], branch=fork)
    chain.mine(branch=fork)
    assert chain.cs.tip.hash == fork.tip.hash
    reopened = Wallet.open(tmp_path / "w", chain.params, sync=False)
    reopened.attach(chain.cs)
    assert reopened.ledger.tip_hash == chain.cs.tip.hash
    balances = reopened.get_balances()["mine"]
    # The payment of the abandoned branch is unconfirmed again; the new branch's is confirmed.
    assert balances["trusted"] == Decimal(1) and balances["untrusted_pending"] == Decimal(2)
    reopened.close()


def test_incoming_payment_double_spent_by_its_sender_stops_counting(tmp_path: Path,
                                                                   chain: Chain) -> None:
    """The sender's coin is confirmed in a rival transaction (say, their staker staked it):
    our pending payment is conflicted, not pending forever (Core's MarkConflicted)."""
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    address = wallet.get_new_address()
    payment = chain.payment(_script(wallet, address), 3 * COIN)
    assert wallet.transaction_added(payment)
    assert wallet.get_balances()["mine"]["untrusted_pending"] == Decimal("3")
    spent = payment.inputs[0].prevout
    coin = chain.cs.get_coin(spent)
    owner = next(k for k in chain.keys if k.script_pubkey == coin.output.script_pubkey)
    rival = sign_transaction(
        Transaction(2, (TxIn(spent, b"", 0xFFFFFFFE),),
                    (TxOut(coin.output.value - 20_000, owner.script_pubkey),), 0),
        [Spendable(spent, coin.output, coin.height, coin.is_coinbase, owner)])
    chain.mine([rival])
    balances = wallet.get_balances()["mine"]
    assert balances["untrusted_pending"] == 0 and balances["trusted"] == 0
    assert wallet.list_unspent(0) == []
    wallet.close()


def test_spent_history_is_skipped_but_comes_back_when_its_spend_leaves_the_chain(
        tmp_path: Path, chain: Chain) -> None:
    """coins() skips transactions whose outputs all have confirmed spenders (a busy wallet
    would otherwise re-examine its whole history on every send); a reorg that unconfirms the
    spend, then abandoning it, must bring the coin back."""
    wallet = open_wallet(tmp_path / "w", chain)
    wallet.attach(chain.cs)
    pay = chain.payment(_script(wallet, wallet.get_new_address()), 2 * COIN)
    chain.mine([pay])
    fork_point = chain.branch.fork()
    send = wallet.send_to_address(chain_address(chain, wallet), COIN, 1_000)
    chain.mine([send])
    coins = wallet.ledger.coins()
    assert [c.outpoint.txid for c in coins] == [send.txid]   # the change only
    assert pay.txid in wallet.ledger._settled                # skipped from now on
    change_script = coins[0].output.script_pubkey
    assert wallet.ledger.coins(script=change_script) == coins
    assert wallet.ledger.coins(script=pay.outputs[0].script_pubkey) == []
    assert wallet.ledger.coins(script=chain.keys[1].script_pubkey) == []   # not ours
    chain.mine(branch=fork_point)
    chain.mine(branch=fork_point)
    assert chain.cs.tip.hash == fork_point.tip.hash
    assert pay.txid not in wallet.ledger._settled            # its spend left the chain
    wallet.abandon_transaction(send.txid)
    [coin] = wallet.ledger.coins()
    assert coin.outpoint.txid == pay.txid and coin.output.value == 2 * COIN
    assert wallet.get_balances()["mine"]["trusted"] == Decimal(2)
    wallet.close()
