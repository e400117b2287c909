"""QRC20 semantics and the TSL supply: exact ERC20 behaviour, invariants under random ops."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_harness import Harness, make_user
from wattchain.contracts.tsl import TSL_TOTAL_SUPPLY

USERS = [make_user(f"token-user-{i}") for i in range(4)]
CREATOR = USERS[0]


def deploy() -> tuple[Harness, bytes]:
    h = Harness()
    return h, h.create(CREATOR, "TslToken", {})


def test_tsl_metadata_and_supply():
    h, tsl = deploy()
    assert TSL_TOTAL_SUPPLY == 1_000_000_000 * 10**8
    assert [h.view(tsl, m) for m in ("name", "symbol", "decimals", "totalSupply")] == \
        ["TSL", "TSL", 8, TSL_TOTAL_SUPPLY]
    assert h.view(tsl, "balanceOf", CREATOR.account) == TSL_TOTAL_SUPPLY
    # a second TslToken (another billion) cannot be created on the same chain, with or
    # without arguments, and the failed attempts leave the first supply untouched
    for args in ({}, {"supply": 1}):
        receipt = h.block(h.tx(CREATOR, h.create_output("TslToken", args))).receipts[0]
        assert (receipt.status, receipt.excepted) == ("revert",
                                                      "TslToken already exists on this chain")
    assert h.view(tsl, "totalSupply") == TSL_TOTAL_SUPPLY
    # on a fresh chain, creation arguments cannot smuggle in another supply
    fresh = Harness()
    first = fresh.block(fresh.tx(CREATOR, fresh.create_output("TslToken", {"supply": 1})))
    assert (first.receipts[0].status, first.receipts[0].excepted) == (
        "revert", "TslToken takes no creation arguments")
    tsl2 = fresh.create(CREATOR, "TslToken", {})  # the reverted attempt claimed nothing
    assert fresh.view(tsl2, "totalSupply") == TSL_TOTAL_SUPPLY
    # and there is no callable that creates supply
    from wattchain.contracts.tsl import TslToken
    assert set(TslToken.externals()) == {"name", "symbol", "decimals", "totalSupply",
                                         "balanceOf", "allowance", "transfer", "approve",
                                         "transferFrom"}


def test_approve_and_transfer_from():
    h, tsl = deploy()
    a, b, c = USERS[:3]
    receipt = h.ok(a, tsl, "approve", b.account, 100)
    assert receipt.events[0].topic == "Approval"
    assert receipt.events[0].fields() == {"owner": a.account, "spender": b.account, "value": 100}
    assert h.view(tsl, "allowance", a.account, b.account) == 100
    h.ok(b, tsl, "transferFrom", a.account, c.account, 60)
    assert h.view(tsl, "allowance", a.account, b.account) == 40
    assert h.view(tsl, "balanceOf", c.account) == 60
    receipt = h.call(b, tsl, "transferFrom", a.account, c.account, 41)
    assert receipt.excepted == "allowance exceeded"
    receipt = h.call(c, tsl, "transferFrom", a.account, c.account, 1)
    assert receipt.excepted == "allowance exceeded"
    h.ok(c, tsl, "transfer", c.account, 60)  # self-transfer is a no-op with an event
    assert h.view(tsl, "balanceOf", c.account) == 60


ops = st.lists(st.tuples(st.sampled_from(["transfer", "approve", "transferFrom"]),
                         st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
                         st.integers(0, 2 * 10**17)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_balances_always_sum_to_the_fixed_supply(operations):
    h, tsl = deploy()
    model = {u.account: 0 for u in USERS}
    model[CREATOR.account] = TSL_TOTAL_SUPPLY
    allowances: dict[tuple[bytes, bytes], int] = {}
    # one block holds every operation (exercises in-block journaling), then check
    txs = []
    expected = []
    for op, i, j, k, amount in operations:
        amount = amount % (TSL_TOTAL_SUPPLY + 2)
        who, to, owner = USERS[i], USERS[j], USERS[k]
        if op == "transfer":
            args = [to.account, amount]
            ok = model[who.account] >= amount
            if ok:
                model[who.account] -= amount
                model[to.account] += amount
        elif op == "approve":
            args = [to.account, amount]
            ok = True
            allowances[(who.account, to.account)] = amount
        else:
            args = [owner.account, to.account, amount]
            allowed = allowances.get((owner.account, who.account), 0)
            ok = allowed >= amount and model[owner.account] >= amount
            if ok:
                allowances[(owner.account, who.account)] = allowed - amount
                model[owner.account] -= amount
                model[to.account] += amount
        txs.append(h.tx(who, h.call_output(tsl, op, *args)))
        expected.append(ok)
    result = h.block(*txs)
    assert [r.ok for r in result.receipts] == expected
    balances = {u.account: h.view(tsl, "balanceOf", u.account) for u in USERS}
    assert balances == model
    assert sum(balances.values()) == h.view(tsl, "totalSupply") == TSL_TOTAL_SUPPLY
    h.disconnect()
    assert h.view(tsl, "balanceOf", CREATOR.account) == TSL_TOTAL_SUPPLY
