"""MeterRegistry governance and WATT minting/burning against signed meter readings."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_harness import deploy_energy, make_user
from wattchain.contracts.meters import meter_id

METER, STATION = make_user("meter"), make_user("station")
HOUSE, DRIVER, MALLORY = make_user("house"), make_user("driver"), make_user("mallory")
T0 = 1_700_000_000


@pytest.fixture
def energy():
    e = deploy_energy()
    assert e.certify(METER, HOUSE).ok
    assert e.certify(STATION, make_user("station-owner"), "station").ok
    return e


def test_certification_needs_m_valid_operator_signatures():
    e = deploy_energy()
    mid = meter_id(METER.pubkey)
    action = ["certify", METER.pubkey, HOUSE.account, "meter"]
    args = (METER.pubkey, HOUSE.account, "meter")
    cases = [
        (dict(indices=(1,)), "not enough operator signatures"),
        (dict(indices=(2, 0)), "operator indices must increase"),
        (dict(indices=(0, 0)), "operator indices must increase"),
        (dict(nonce=1), "wrong operator nonce"),
        (dict(target=bytes(20)), "bad signature of operator 0"),
    ]
    for kwargs, reason in cases:
        receipt = e.governed("certify", action, *args, **kwargs)
        assert (receipt.status, receipt.excepted) == ("revert", reason)
    # signatures over a different owner do not certify for this one
    receipt = e.governed("certify", ["certify", METER.pubkey, MALLORY.account, "meter"], *args)
    assert receipt.excepted == "bad signature of operator 0"
    assert e.h.view(e.registry, "meter", mid) is None
    receipt = e.certify(METER, HOUSE)
    assert receipt.ok and receipt.events[0].topic == "MeterCertified"
    assert e.h.view(e.registry, "meter", mid) == [METER.pubkey, HOUSE.account, "meter", True]
    assert e.h.view(e.registry, "nonce") == 1
    # replaying the same signed operation fails on the nonce
    e.nonce = 0
    assert e.certify(METER, HOUSE).excepted == "device already certified"


def test_registry_creation_is_validated():
    e = deploy_energy()
    ops = [o.pubkey for o in e.operators]
    bad = [{"operators": ops, "threshold": 4}, {"operators": ops, "threshold": 0},
           {"operators": [ops[0], ops[0]], "threshold": 1}, {"operators": [b"x" * 33],
                                                              "threshold": 1},
           {"operators": ops}]
    for args in bad:
        receipt = e.h.block(e.h.tx(HOUSE, e.h.create_output("MeterRegistry", args))).receipts[0]
        assert receipt.status == "revert", args


def test_production_mints_to_the_meter_owner(energy):
    receipt = energy.produce(METER, T0, 900, 250_000_000, 1)
    assert receipt.ok
    topics = [ev.topic for ev in receipt.events]
    assert topics == ["Transfer", "Mint"]
    assert energy.h.view(energy.watt, "balanceOf", HOUSE.account) == 250_000_000
    assert energy.h.view(energy.watt, "totalMinted") == 250_000_000


def test_bad_readings_are_rejected(energy):
    assert energy.produce(METER, T0, 900, 100, 5).ok
    replayed = "replayed or out-of-order reading (counter)"
    cases = [
        (energy.produce(METER, T0 + 900, 900, 100, 5), replayed),
        (energy.produce(METER, T0 + 900, 900, 100, 4), replayed),
        (energy.produce(METER, T0 + 899, 900, 100, 6),
         "reading interval overlaps the previous one"),
        (energy.produce(MALLORY, T0 + 900, 900, 100, 6), "unknown meter"),
        (energy.produce(STATION, T0, 900, 100, 1), "only meters report production"),
        (energy.produce(METER, T0 + 900, 900, 0, 6), "energy must be positive"),
        (energy.produce(METER, T0 + 900, 86_401, 1, 6), "interval too long"),
    ]
    for receipt, reason in cases:
        assert (receipt.status, receipt.excepted) == ("revert", reason)
    # a reading signed by another key for this meter id (unauthorized mint)
    args = energy.reading(MALLORY, "production", T0 + 900, 900, 10**12, 6)
    args[0] = meter_id(METER.pubkey)
    receipt = energy.h.call(MALLORY, energy.watt, "mint_production", *args)
    assert receipt.excepted == "bad meter signature"
    # a production signature cannot be replayed as consumption
    args = energy.reading(METER, "production", T0 + 900, 900, 50, 6)
    receipt = energy.h.call(HOUSE, energy.watt, "burn_consumption", args[0], HOUSE.account,
                            *args[1:])
    assert receipt.excepted == "bad meter signature"
    assert energy.h.view(energy.watt, "totalSupply") == 100
    assert energy.produce(METER, T0 + 900, 900, 100, 6).ok


def test_revoked_meter_is_rejected_and_recertification_keeps_counters(energy):
    assert energy.produce(METER, T0, 900, 100, 1).ok
    assert energy.revoke(METER).ok
    assert energy.revoke(METER).excepted == "device is not certified"
    assert energy.produce(METER, T0 + 900, 900, 100, 2).excepted == "meter revoked"
    assert energy.certify(METER, HOUSE).ok
    assert energy.produce(METER, T0, 900, 100, 1).excepted.startswith("replayed")
    assert energy.produce(METER, T0 + 900, 900, 100, 2).ok


def test_consumption_burns_out_of_the_supply(energy):
    assert energy.produce(METER, T0, 900, 1_000, 1).ok
    h = energy.h
    h.ok(HOUSE, energy.watt, "transfer", DRIVER.account, 300)
    receipt = energy.consume(METER, HOUSE, T0, 900, 200, 1, sender=MALLORY)
    assert receipt.ok  # anyone may settle a household meter's consumption
    assert [ev.topic for ev in receipt.events] == ["Transfer", "Burn"]
    assert receipt.events[0].fields()["to"] == bytes(20)
    # a meter only reports its owner's consumption
    assert energy.consume(METER, DRIVER, T0 + 900, 900, 1, 2).excepted == \
        "a meter reports its owner's consumption"
    # a station burns the driver's WATT only when the driver sends the reading
    assert energy.consume(STATION, DRIVER, T0, 600, 100, 1, sender=MALLORY).excepted == \
        "station consumption must be sent by the consumer"
    assert energy.consume(STATION, DRIVER, T0, 600, 100, 1).ok
    assert energy.consume(STATION, DRIVER, T0 + 600, 600, 201, 2).excepted == \
        "insufficient balance to burn"
    assert h.view(energy.watt, "balanceOf", bytes(20)) == 0
    assert h.view(energy.watt, "totalSupply") == 700 == \
        h.view(energy.watt, "totalMinted") - h.view(energy.watt, "totalBurned")


steps = st.lists(st.tuples(st.sampled_from(["produce", "consume", "transfer", "revoke",
                                            "certify"]),
                           st.integers(1, 10**9), st.integers(0, 2)), min_size=1, max_size=10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_watt_supply_is_minted_minus_burned(sequence):
    e = deploy_energy()
    assert e.certify(METER, HOUSE).ok
    counters = {"production": 0, "consumption": 0}
    clock = {"production": T0, "consumption": T0}
    active = True
    for action, amount, skip in sequence:
        if action in ("produce", "consume"):
            kind = "production" if action == "produce" else "consumption"
            counters[kind] += 1 + skip
            clock[kind] += 900 * skip
            if action == "produce":
                receipt = e.produce(METER, clock[kind], 900, amount, counters[kind])
            else:
                receipt = e.consume(METER, HOUSE, clock[kind], 900, amount, counters[kind])
            if receipt.ok:
                clock[kind] += 900
            else:
                assert receipt.excepted in ("meter revoked", "insufficient balance to burn")
                assert not active or action == "consume"
        elif action == "transfer":
            e.h.call(HOUSE, e.watt, "transfer", DRIVER.account, amount)
        elif action == "revoke" and active:
            assert e.revoke(METER).ok
            active = False
        elif action == "certify" and not active:
            assert e.certify(METER, HOUSE).ok
            active = True
        view = e.h.view
        supply = view(e.watt, "totalSupply")
        assert supply == view(e.watt, "totalMinted") - view(e.watt, "totalBurned")
        assert supply == sum(view(e.watt, "balanceOf", u.account) for u in (HOUSE, DRIVER))
