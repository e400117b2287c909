"""Contract state and execution benchmark: prints one JSON object.

Sparse-Merkle-tree commit time for 10,000 new keys and for 1/10/100/1,000 changed keys (the
state root must cost time proportional to what a block changed, issue 8), and the execution of a
block of 200 TSL transfers through the runtime, with the gas one transfer uses. Uses the
contract test harness (tests/contracts/contract_harness.py) to build signed transactions.

    python bench/contracts_bench.py
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "contracts"))
from contract_harness import Harness, make_user  # noqa: E402
from wattchain.contracts.state import ContractState, MemoryStore  # noqa: E402

out = {}
state = ContractState(MemoryStore(), MemoryStore())
for i in range(10_000):
    state.set(i.to_bytes(4, "big"), b"v")
t = time.perf_counter(); state.commit_block(); out["smt_commit_10000_new_keys_s"] = round(time.perf_counter() - t, 3)
for n in (1, 10, 100, 1000):
    for i in range(n):
        state.set((i * 7).to_bytes(4, "big"), b"w%d" % n)
    t = time.perf_counter(); state.commit_block()
    out[f"smt_commit_{n}_changed_keys_ms"] = round((time.perf_counter() - t) * 1000, 2)
h = Harness(); a = make_user(1); b = make_user(2)
tsl = h.create(a, "TslToken", {})
txs = [h.tx(a, h.call_output(tsl, "transfer", b.account, 1, gas=100_000)) for _ in range(200)]
t = time.perf_counter(); r = h.block(*txs); dt = time.perf_counter() - t
out["block_200_tsl_transfers_ms"] = round(dt * 1000, 1)
out["tsl_transfer_gas"] = r.receipts[0].gas_used
print(json.dumps(out))
