"""Arbitrary calls to every built-in method fail cleanly: a receipt, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_harness import deploy_energy, make_user
from wattchain.contracts.registry import default_registry

CALLER = make_user("fuzzer")
METHODS = sorted({name for cls in default_registry().classes()
                  for name in cls.externals()})
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.text(max_size=8), st.binary(max_size=40),
                    st.binary(min_size=20, max_size=20), st.binary(min_size=33, max_size=33))
args = st.lists(st.recursive(scalars, lambda inner: st.lists(inner, max_size=3),
                             max_leaves=6), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(METHODS), args), min_size=1,
                max_size=6))
def test_random_calls_produce_receipts_and_keep_invariants(calls):
    e = deploy_energy()
    targets = [e.registry, e.watt, e.tsl, e.battery]
    txs = [e.h.tx(CALLER, e.h.call_output(targets[t], method, *values))
           for t, method, values in calls]
    result = e.h.block(*txs)
    assert len(result.receipts) == len(calls)
    for receipt in result.receipts:
        assert receipt.ok or receipt.status in ("revert", "bad_call_data", "out_of_gas")
        assert not receipt.excepted.startswith("internal error"), receipt.excepted
    assert e.h.view(e.tsl, "totalSupply") == 10**17
    e.h.disconnect()
