"""BatteryStorage: slots, exact fee split, co-owner shares, marketing grants, invariants."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_harness import START_TIME, deploy_energy, make_user
from wattchain.contracts.battery import split_fee, storage_fee, storage_slots

METER = make_user("bat-meter")
OWNER, CO, USER, USER2 = (make_user(n) for n in ("bat-owner", "bat-co", "bat-user", "bat-u2"))
KWH = 10**8


def test_slot_and_fee_rules():
    assert [storage_slots(0, t) for t in (0, 1, 899, 900, 901, 1800, 1801)] == \
        [1, 1, 1, 1, 2, 2, 3]
    assert storage_slots(1000, 10) == 1           # a block time earlier than the deposit
    assert storage_fee(KWH, 7, 3) == 21
    assert storage_fee(1, 7, 1) == 1              # rounded up: storage is never free
    assert storage_fee(0, 7, 1) == 0


@given(st.integers(0, 10**15))
def test_split_is_exact_with_remainders_to_the_platform(fee):
    owner, marketing, platform = split_fee(fee)
    assert owner + marketing + platform == fee
    assert owner == fee * 80 // 100 and marketing == fee * 10 // 100
    assert 0 <= platform - fee // 10 <= 1 + 1  # the platform gets 10 % plus the remainders


def setup(rate: int = 7, capacity: int = 100 * KWH):
    e = deploy_energy(grant=1_000)
    h = e.h
    assert e.certify(METER, USER).ok
    assert e.produce(METER, START_TIME, 900, 50 * KWH, 1).ok
    h.ok(USER, e.watt, "transfer", USER2.account, 10 * KWH)
    creator = make_user("creator")
    for who in (USER, USER2):
        h.ok(creator, e.tsl, "transfer", who.account, 10**12)
        h.ok(who, e.tsl, "approve", e.battery, 10**12)
        h.ok(who, e.watt, "approve", e.battery, 10**12)
    receipt = h.ok(OWNER, e.battery, "register_battery", capacity, rate)
    assert receipt.events[0].fields()["battery"] == 0
    return e


def tsl_of(e, who: bytes) -> int:
    return e.h.view(e.tsl, "balanceOf", who)


def test_deposit_and_withdraw_charge_every_started_slot():
    e = setup(rate=7)
    h = e.h
    t = h.time
    h.ok(USER, e.battery, "deposit", 0, 3 * KWH, time=t)
    assert h.view(e.watt, "balanceOf", e.battery) == 3 * KWH
    before = tsl_of(e, USER.account)
    receipt = h.ok(USER, e.battery, "withdraw", 0, KWH, time=t + 2 * 900 + 1)  # 3 slots
    fee = 3 * 7 * 3
    assert tsl_of(e, USER.account) == before - fee
    split = [ev.fields() for ev in receipt.events if ev.topic == "FeeSplit"][0]
    assert (split["fee"], split["owner_side"], split["marketing"], split["platform"]) == \
        (fee, 50, 6, 7)
    assert h.view(e.battery, "position", 0, USER.account) == [2 * KWH, t + 1801]
    assert h.view(e.watt, "balanceOf", USER.account) == 38 * KWH
    assert h.view(e.battery, "earnings", OWNER.account) == 50
    h.ok(USER, e.battery, "withdraw", 0, 2 * KWH, time=t + 1801)  # same time: 1 slot
    assert h.view(e.battery, "position", 0, USER.account) is None
    assert tsl_of(e, USER.account) == before - fee - 2 * 7
    assert h.ok(OWNER, e.battery, "claim").events[0].fields()["value"] == 50 + 11
    assert h.ok(OWNER, e.battery, "claim").events == ()
    assert tsl_of(e, OWNER.account) == 61


def test_rules_of_deposits():
    e = setup(capacity=5 * KWH)
    h = e.h
    assert h.call(USER, e.battery, "deposit", 0, 6 * KWH).excepted == "battery is full"
    assert h.call(USER, e.battery, "deposit", 1, KWH).excepted == "unknown battery"
    h.ok(USER, e.battery, "deposit", 0, KWH)
    assert h.call(USER, e.battery, "deposit", 0, KWH).excepted == \
        "withdraw the open position first"
    assert h.call(USER2, e.battery, "withdraw", 0, KWH).excepted == "no open position"
    assert h.call(USER, e.battery, "withdraw", 0, 2 * KWH).excepted == \
        "withdrawing more than deposited"
    assert h.call(USER, e.battery, "set_co_owner", 0, CO.account, 1).excepted == \
        "only the battery owner manages co-owners"
    assert h.call(OWNER, e.battery, "set_co_owner", 0, OWNER.account, KWH - 1).excepted == \
        "capacity below the energy stored"
    # a failed TSL payment (no allowance) reverts the whole withdrawal, WATT stays deposited
    h.ok(USER, e.tsl, "approve", e.battery, 0)
    receipt = h.call(USER, e.battery, "withdraw", 0, KWH)
    assert receipt.excepted == "allowance exceeded"
    assert h.view(e.battery, "position", 0, USER.account)[0] == KWH


def test_owner_side_shares_follow_weights_and_remainders_go_to_the_platform():
    e = setup(rate=1, capacity=3)
    h = e.h
    h.ok(OWNER, e.battery, "set_co_owner", 0, CO.account, 4)   # weights 3 : 4 (total 7)
    assert h.view(e.battery, "battery", 0)["capacity"] == 7
    t = h.time
    h.ok(USER, e.battery, "deposit", 0, 7, time=t)
    receipt = h.ok(USER, e.battery, "withdraw", 0, 7, time=t + 900 * 100)  # 100 slots
    # 7 units x 100 slots at 1 TSL unit per kWh-slot is a 1-unit fee (rounded up); its 80 %
    # rounds to 0, so the one unit goes to the platform
    split = [ev.fields() for ev in receipt.events if ev.topic == "FeeSplit"][0]
    assert (split["fee"], split["owner_side"], split["marketing"], split["platform"]) == \
        (1, 0, 0, 1)
    big = 10**8 + 1
    h.ok(OWNER, e.battery, "set_co_owner", 0, CO.account, big * 4)
    h.ok(OWNER, e.battery, "set_co_owner", 0, OWNER.account, big * 3)
    platform_before = h.view(e.battery, "pools")["platform"]
    h.ok(USER, e.battery, "deposit", 0, 7 * big, time=t)
    h.ok(USER, e.battery, "withdraw", 0, 7 * big, time=t + 900 * 5 + 1)  # 6 slots
    fee = storage_fee(7 * big, 1, 6)
    owner_part, marketing, platform = split_fee(fee)
    owner_share, co_share = owner_part * 3 // 7, owner_part * 4 // 7
    assert h.view(e.battery, "earnings", OWNER.account) == owner_share
    assert h.view(e.battery, "earnings", CO.account) == co_share
    remainder = owner_part - owner_share - co_share
    assert h.view(e.battery, "pools") == {
        "marketing": marketing, "platform": platform_before + platform + remainder}
    assert owner_share + co_share + marketing + platform + remainder == fee
    assert h.call(OWNER, e.battery, "set_co_owner", 0, OWNER.account, 0).ok
    assert h.call(OWNER, e.battery, "set_co_owner", 0, CO.account, 0).excepted == \
        "a battery needs capacity"


def test_many_slots_and_withdrawals_split_exactly():
    e = setup(rate=333_333)
    h = e.h
    h.ok(OWNER, e.battery, "set_co_owner", 0, CO.account, 7 * KWH)
    total_fee = 0
    for i in range(1, 12):
        h.ok(USER, e.battery, "deposit", 0, i * 12_345_679, time=h.time)
        receipt = h.ok(USER, e.battery, "withdraw", 0, i * 12_345_679,
                       time=h.time + 900 * i * 7 + i)
        split = [ev.fields() for ev in receipt.events if ev.topic == "FeeSplit"][0]
        assert split["slots"] == 7 * i + 1
        assert split["owner_side"] + split["marketing"] + split["platform"] == split["fee"]
        total_fee += split["fee"]
    pools = h.view(e.battery, "pools")
    earned = sum(h.view(e.battery, "earnings", w.account) for w in (OWNER, CO))
    assert pools["marketing"] + pools["platform"] + earned == total_fee == \
        tsl_of(e, e.battery)


ops = st.lists(st.tuples(st.sampled_from(["deposit", "withdraw", "claim", "coowner",
                                          "platform", "fund", "grant"]),
                         st.integers(0, 1), st.integers(1, 20 * KWH), st.integers(0, 20_000)),
               min_size=1, max_size=14)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.integers(0, 10**6))
def test_fee_accounting_is_exact_under_random_operations(sequence, rate):
    e = setup(rate=rate)
    h = e.h
    users = [USER, USER2]
    paid = funded = granted = 0
    for op, who_index, amount, seconds in sequence:
        who = users[who_index]
        h.time += seconds
        if op == "deposit":
            h.call(who, e.battery, "deposit", 0, amount)
        elif op == "withdraw":
            position = h.view(e.battery, "position", 0, who.account)
            if position:
                receipt = h.ok(who, e.battery, "withdraw", 0, min(amount, position[0]))
                fee = storage_fee(position[0], rate, storage_slots(position[1], h.time))
                assert [ev.fields()["fee"] for ev in receipt.events
                        if ev.topic == "Withdraw"] == [fee]
                paid += fee
        elif op == "claim":
            h.ok(OWNER if who_index else CO, e.battery, "claim")
        elif op == "coowner":
            h.call(OWNER, e.battery, "set_co_owner", 0, CO.account, amount)
        elif op == "platform":
            h.ok(e.platform, e.battery, "withdraw_platform")
        elif op == "fund":
            funded += h.ok(who, e.battery, "fund_marketing", amount % 5000 + 1) and \
                amount % 5000 + 1
        else:
            receipt = e.governed("grant", ["grant", who.account], who.account,
                                 target=e.battery, contract=e.battery)
            granted += 1_000 if receipt.ok else 0
        held = tsl_of(e, e.battery)
        assert h.view(e.battery, "accounted_tsl", [OWNER.account, CO.account]) == held
        stored = h.view(e.battery, "battery", 0)["stored"]
        assert h.view(e.watt, "balanceOf", e.battery) == stored
    # every fee unit paid is in the pools, in credits, or was claimed/withdrawn
    pools = h.view(e.battery, "pools")
    outside = sum(tsl_of(e, a.account) for a in (OWNER, CO, e.platform))
    credits = sum(h.view(e.battery, "earnings", a.account) for a in (OWNER, CO))
    assert paid + funded - granted == pools["marketing"] + pools["platform"] + outside + credits
    assert h.view(e.tsl, "totalSupply") == 10**17


def test_marketing_grant_once_per_user_with_operator_approval():
    e = setup(rate=0)
    h = e.h
    assert e.governed("grant", ["grant", USER.account], USER.account, target=e.battery,
                      contract=e.battery).excepted == "marketing pool is empty"
    h.ok(USER2, e.battery, "fund_marketing", 1_500)
    newcomer = make_user("newcomer")
    # signatures made for the registry itself (or another contract) do not authorize a grant
    assert e.governed("grant", ["grant", newcomer.account], newcomer.account,
                      contract=e.battery).excepted == "bad signature of operator 0"
    receipt = e.governed("grant", ["grant", newcomer.account], newcomer.account,
                         target=e.battery, contract=e.battery)
    assert receipt.ok and tsl_of(e, newcomer.account) == 1_000
    assert e.governed("grant", ["grant", newcomer.account], newcomer.account, target=e.battery,
                      contract=e.battery).excepted == "user already received a grant"
    assert h.view(e.battery, "pools") == {"marketing": 500, "platform": 0}
    assert h.call(USER, e.battery, "withdraw_platform").excepted == "only the platform account"
