"""BOLT 3 Appendix B (funding tx), C (commitment + HTLC txs) and F (anchors), byte for byte.

Every signature in the vectors is re-created with our RFC6979 signer and every signed
transaction is run through wattchain's script interpreter (``verify_input``, consensus flags).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from bolt3_vectors import Bolt3Setup, h, load_setup
from vector_files import load_vector_json

from wattchain.channels.commitment import (CommitmentTx, OutputKind, build_commitment_tx,
                                           build_htlc_txs, commitment_fee_sat,
                                           commitment_weight, sign_commitment, sign_htlc_tx,
                                           signed_commitment_tx, signed_htlc_success_tx,
                                           signed_htlc_timeout_tx, verify_commitment_signature,
                                           verify_htlc_signature)
from wattchain.channels.errors import CommitmentError, SignatureError
from wattchain.channels.scripts import (anchor_script, funding_script, offered_htlc_script,
                                        received_htlc_script, to_local_script,
                                        to_remote_anchors_script)
from wattchain.consensus.tx_verify import is_final_tx
from wattchain.core.hashes import hash160, ripemd160
from wattchain.core.keys import public_key, sign_ecdsa, verify_ecdsa
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.script import push_data, push_int
from wattchain.script.sighash import SIGHASH_ALL, legacy_signature_hash
from wattchain.script.standard import p2pkh, p2wpkh, p2wsh


@pytest.fixture(scope="module")
def setup() -> Bolt3Setup:
    return load_setup()


@pytest.fixture(scope="module")
def anchors_cases() -> list[dict]:
    return load_vector_json("bolt3", "anchors_commitment_txs.json")["cases"]


# ---------------------------------------------------------------------------- Appendix B
def test_funding_tx():
    vec = load_vector_json("bolt3", "funding_tx.json")["funding"]
    tx = Transaction.from_hex(vec["funding_tx_hex"])
    assert tx.txid_hex == vec["funding_txid"]
    assert tx.to_hex() == vec["funding_tx_hex"]
    script = funding_script(h(vec["remote_funding_pubkey"]), h(vec["local_funding_pubkey"]))
    assert script == h(vec["funding_witness_script"])
    out = tx.outputs[vec["funding_output_index"]]
    assert out == TxOut(vec["funding_sat"], p2wsh(script))
    assert out.value == 10_000_000
    # The P2PKH input: legacy sighash against the coinbase output, re-created byte for byte.
    coinbase = Transaction.from_hex(vec["block1_coinbase_tx_hex"])
    assert coinbase.txid_hex == vec["input_txid"]
    spent = coinbase.outputs[vec["input_index"]]
    privkey = h(vec["block1_coinbase_privkey"])
    assert spent.script_pubkey == p2pkh(hash160(public_key(privkey)))
    verify_input(tx, 0, spent, CONSENSUS_FLAGS)
    digest = legacy_signature_hash(spent.script_pubkey, tx, 0, SIGHASH_ALL)
    sig_push = tx.inputs[0].script_sig
    der_sig = sig_push[1:1 + sig_push[0] - 1]
    assert verify_ecdsa(public_key(privkey), der_sig, digest)
    assert sign_ecdsa(privkey, digest) == der_sig
    assert spent.value - sum(o.value for o in tx.outputs) \
        == vec["input_sat"] - vec["funding_sat"] - vec["change_sat"]


# ---------------------------------------------------------------------------- Appendix C
def _build(setup: Bolt3Setup, case: dict, anchors: bool, htlc_ids: list[int],
           dust_limit: int | None = None) -> CommitmentTx:
    local = setup.local if dust_limit is None else replace(setup.local,
                                                           dust_limit_sat=dust_limit)
    spec = setup.spec(case["to_local_msat"], case["to_remote_msat"], case["feerate_per_kw"],
                      htlc_ids, anchors)
    return build_commitment_tx(setup.funding, local, setup.remote, spec,
                               setup.per_commitment_point)


def _sign_and_check_commitment(setup: Bolt3Setup, commitment: CommitmentTx, case: dict
                               ) -> Transaction:
    local_sig = sign_commitment(commitment, setup.secrets["local_funding_privkey"])
    remote_sig = sign_commitment(commitment, setup.secrets["remote_funding_privkey"])
    assert remote_sig == h(case["remote_sig"])
    if "local_sig" in case:
        assert local_sig == h(case["local_sig"])
    verify_commitment_signature(commitment, setup.funding.remote_funding_pubkey, remote_sig)
    with pytest.raises(SignatureError):
        verify_commitment_signature(commitment, setup.funding.local_funding_pubkey, remote_sig)
    signed = signed_commitment_tx(commitment, local_sig, remote_sig)
    assert signed.to_hex() == case["commit_tx_hex"]
    verify_input(signed, 0, setup.funding.txout, CONSENSUS_FLAGS)
    # Swapping the two signatures breaks OP_CHECKMULTISIG's key order.
    swapped = signed_commitment_tx(commitment, remote_sig, local_sig)
    with pytest.raises(ScriptError):
        verify_input(swapped, 0, setup.funding.txout, CONSENSUS_FLAGS)
    return signed


def _check_htlc_txs(setup: Bolt3Setup, commitment: CommitmentTx, signed_commit: Transaction,
                    expected: list[dict]) -> None:
    htlc_txs = build_htlc_txs(commitment)
    assert len(htlc_txs) == len(expected)
    local_key, remote_key = setup.secrets["local_privkey"], setup.secrets["remote_privkey"]
    for htlc_tx, want in zip(htlc_txs, expected):
        if "htlc_id" in want:
            assert htlc_tx.htlc.id == want["htlc_id"]
            assert htlc_tx.success == (want["type"] == "success")
            assert htlc_tx.spent.index == want["commit_output_index"]
        assert htlc_tx.tx.inputs[0].prevout.txid == signed_commit.txid
        remote_sig = sign_htlc_tx(htlc_tx, remote_key, as_counterparty=True)
        local_sig = sign_htlc_tx(htlc_tx, local_key, as_counterparty=False)
        assert remote_sig == h(want["remote_sig"])
        if "local_sig" in want:
            assert local_sig == h(want["local_sig"])
        verify_htlc_signature(htlc_tx, commitment.keys.remote_htlc_pubkey, remote_sig,
                              as_counterparty=True)
        if htlc_tx.success:
            signed = signed_htlc_success_tx(htlc_tx, remote_sig, local_sig,
                                            setup.preimages[htlc_tx.htlc.id])
            with pytest.raises(CommitmentError, match="preimage"):
                signed_htlc_success_tx(htlc_tx, remote_sig, local_sig, b"\x09" * 32)
            assert signed.locktime == 0
        else:
            signed = signed_htlc_timeout_tx(htlc_tx, remote_sig, local_sig)
            cltv = htlc_tx.htlc.cltv_expiry
            assert signed.locktime == cltv
            assert not is_final_tx(signed, cltv, 0) and is_final_tx(signed, cltv + 1, 0)
            # An earlier locktime would invalidate the counterparty's signature.
            early = replace(signed, locktime=cltv - 1)
            with pytest.raises(ScriptError):
                verify_input(early, 0, signed_commit.outputs[htlc_tx.spent.index],
                             CONSENSUS_FLAGS)
        assert signed.to_hex() == want["tx_hex"]
        verify_input(signed, 0, signed_commit.outputs[htlc_tx.spent.index], CONSENSUS_FLAGS)


def test_appendix_c_all_cases(setup):
    cases = setup.data["cases"]
    assert len(cases) == 16
    total_htlc_txs = 0
    for case in cases:
        commitment = _build(setup, case, anchors=False, htlc_ids=case["htlc_ids"])
        assert len(commitment.htlc_outputs()) == case["num_htlcs"], case["name"]
        if "base_fee_sat" in case:
            assert commitment_fee_sat(case["feerate_per_kw"], case["num_htlcs"], False) \
                == case["base_fee_sat"]
            assert case["base_fee_sat"] == case["feerate_per_kw"] * commitment_weight(
                case["num_htlcs"], False) // 1000
            assert commitment.fee_sat == case["actual_fee_sat"], case["name"]
        assert commitment.fee_sat == setup.funding.amount_sat \
            - sum(o.value for o in commitment.tx.outputs)
        signed = _sign_and_check_commitment(setup, commitment, case)
        _check_htlc_txs(setup, commitment, signed, case["htlc_txs"])
        total_htlc_txs += len(case["htlc_txs"])
    assert total_htlc_txs == 33


def test_appendix_c_outputs_info(setup):
    """Every documented output is present with the right kind, amount and script."""
    kinds = {"htlc_offered": OutputKind.OFFERED_HTLC, "htlc_received": OutputKind.RECEIVED_HTLC,
             "to_local": OutputKind.TO_LOCAL, "to_remote_p2wpkh": OutputKind.TO_REMOTE}
    for case in setup.data["cases"]:
        commitment = _build(setup, case, anchors=False, htlc_ids=case["htlc_ids"])
        # The last case documents only some of its outputs.
        assert len(case["outputs_info"]) <= len(commitment.outputs), case["name"]
        if case is not setup.data["cases"][-1]:
            assert len(commitment.outputs) == len(case["outputs_info"]), case["name"]
        for info in case["outputs_info"]:
            matches = [o for o in commitment.outputs if o.kind is kinds[info["kind"]]
                       and o.amount_sat == info["amount_sat"]
                       and (o.htlc is None or o.htlc.id == info.get("htlc_id"))]
            assert len(matches) == 1, (case["name"], info)
            out = matches[0]
            if "wscript" in info:
                assert out.witness_script == h(info["wscript"])
                assert out.script_pubkey == p2wsh(h(info["wscript"]))
            else:
                assert out.script_pubkey == p2wpkh(hash160(h(info["pubkey"])))


def test_scripts_match_templates(setup):
    keys = setup.data["keys"]
    rev, local_delayed = h(keys["local_revocation_pubkey"]), h(keys["local_delayedpubkey"])
    remote_htlc, local_htlc = h(keys["remote_htlcpubkey"]), h(keys["local_htlcpubkey"])
    case = setup.data["cases"][1]  # all five HTLCs untrimmed
    by_id = {info["htlc_id"]: info for info in case["outputs_info"] if "htlc_id" in info}
    to_local = next(i for i in case["outputs_info"] if i["kind"] == "to_local")
    assert to_local_script(rev, 144, local_delayed) == h(to_local["wscript"])
    for htlc_id in (2, 3):
        htlc = setup.htlcs[htlc_id]
        assert offered_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash) \
            == h(by_id[htlc_id]["wscript"])
    for htlc_id in (0, 1, 4):
        htlc = setup.htlcs[htlc_id]
        assert received_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash,
                                    htlc.cltv_expiry) == h(by_id[htlc_id]["wscript"])
    assert funding_script(setup.funding.local_funding_pubkey,
                          setup.funding.remote_funding_pubkey) \
        == h(keys["funding_witness_script"])


# ---------------------------------------------------------------------------- Appendix F
def _anchor_htlc_ids(case: dict) -> list[int]:
    if not case["uses_test_htlcs"]:
        return []
    return [1, 5, 6] if "same amount and preimage" in case["name"] else [0, 1, 2, 3, 4]


def test_appendix_f_all_cases(setup, anchors_cases):
    assert len(anchors_cases) == 9
    total_htlc_txs = 0
    for case in anchors_cases:
        commitment = _build(setup, case, anchors=True, htlc_ids=_anchor_htlc_ids(case),
                            dust_limit=case["dust_limit_sat"])
        signed = _sign_and_check_commitment(setup, commitment, case)
        anchors = [o for o in commitment.outputs
                   if o.kind in (OutputKind.LOCAL_ANCHOR, OutputKind.REMOTE_ANCHOR)]
        for anchor in anchors:
            assert anchor.amount_sat == 330
            funding_key = (setup.funding.local_funding_pubkey
                           if anchor.kind is OutputKind.LOCAL_ANCHOR
                           else setup.funding.remote_funding_pubkey)
            assert anchor.witness_script == anchor_script(funding_key)
        for htlc_tx in build_htlc_txs(commitment):
            assert htlc_tx.tx.inputs[0].sequence == 1
            assert htlc_tx.output.value == htlc_tx.spent.amount_sat  # zero fee
        _check_htlc_txs(setup, commitment, signed, case["htlc_txs"])
        total_htlc_txs += len(case["htlc_txs"])
    assert total_htlc_txs == 15


def test_single_anchor_when_remote_balance_is_zero(setup, anchors_cases):
    case = next(c for c in anchors_cases if "single anchor" in c["name"])
    commitment = _build(setup, case, anchors=True, htlc_ids=[])
    kinds = sorted(o.kind.value for o in commitment.outputs)
    assert kinds == ["local_anchor", "to_local"]
    fee = commitment_fee_sat(case["feerate_per_kw"], 0, True)
    assert commitment.output_of(OutputKind.TO_LOCAL).amount_sat \
        == case["to_local_msat"] // 1000 - fee - 660


# ---------------------------------------------------------------------------- bad input
def test_commitment_rejects_bad_specs(setup):
    case = setup.data["cases"][0]
    spec = setup.spec(case["to_local_msat"] - 10**8, case["to_remote_msat"], 1000, [0, 2],
                      False)
    with pytest.raises(CommitmentError, match="exceed the funding amount"):
        build_commitment_tx(setup.funding, setup.local, setup.remote,
                            replace(spec, to_local_msat=spec.to_local_msat + 2 * 10**8),
                            setup.per_commitment_point)
    with pytest.raises(CommitmentError, match="duplicate"):
        build_commitment_tx(setup.funding, setup.local, setup.remote,
                            replace(spec, htlcs=spec.htlcs + spec.htlcs[:1]),
                            setup.per_commitment_point)
    with pytest.raises(CommitmentError, match="funding pubkeys"):
        build_commitment_tx(setup.funding, setup.remote, setup.local, spec,
                            setup.per_commitment_point)
    with pytest.raises(CommitmentError, match="negative"):
        build_commitment_tx(setup.funding, setup.local, setup.remote,
                            replace(spec, feerate_per_kw=-1), setup.per_commitment_point)


def test_to_self_delay_comes_from_the_counterparty(setup):
    """PartyConfig.to_self_delay is what a party demands of the *other* side (BOLT 2)."""
    case = setup.data["cases"][0]
    commitment = _build(setup, case, anchors=False, htlc_ids=[])
    assert setup.local.to_self_delay != setup.remote.to_self_delay
    assert commitment.keys.to_self_delay == setup.remote.to_self_delay == 144


# ---------------------------------------------------------------------------- script templates
def _render(tokens: list, opcodes: dict[str, str], values: dict[str, object]) -> bytes:
    """Independent rendering of a ``script_templates.json`` token list."""
    out = b""
    for token in tokens:
        if isinstance(token, int):
            out += push_int(token)
        elif token.startswith("<"):
            value = values[token[1:-1]]
            out += push_int(value) if isinstance(value, int) else push_data(value)
        else:
            out += bytes.fromhex(opcodes[token])
    return out


def test_templates_render_to_our_scripts(setup):
    vec = load_vector_json("bolt3", "script_templates.json")
    templates, opcodes = vec["templates"], vec["opcodes_hex"]
    keys = setup.data["keys"]
    rev, delayed = h(keys["local_revocation_pubkey"]), h(keys["local_delayedpubkey"])
    remote_htlc, local_htlc = h(keys["remote_htlcpubkey"]), h(keys["local_htlcpubkey"])
    fund_a, fund_b = sorted((setup.funding.local_funding_pubkey,
                             setup.funding.remote_funding_pubkey))
    checked = 0
    for anchors in (False, True):
        suffix = "_anchors" if anchors else ""
        for htlc in setup.htlcs.values():
            values = {"revocation_hash160": hash160(rev), "remote_htlcpubkey": remote_htlc,
                      "local_htlcpubkey": local_htlc,
                      "payment_hash160": ripemd160(htlc.payment_hash),
                      "cltv_expiry": htlc.cltv_expiry}
            assert _render(templates["offered_htlc" + suffix]["tokens"], opcodes, values) \
                == offered_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash, anchors)
            assert _render(templates["received_htlc" + suffix]["tokens"], opcodes, values) \
                == received_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash,
                                        htlc.cltv_expiry, anchors)
            checked += 2
    values = {"revocationpubkey": rev, "to_self_delay": 144, "local_delayedpubkey": delayed,
              "pubkey1": fund_a, "pubkey2": fund_b, "funding_pubkey": fund_a,
              "remotepubkey": h(keys["remote_payment_basepoint"])}
    assert _render(templates["to_local"]["tokens"], opcodes, values) \
        == to_local_script(rev, 144, delayed)
    assert _render(templates["htlc_tx_output"]["tokens"], opcodes, values) \
        == to_local_script(rev, 144, delayed)
    assert _render(templates["funding_2of2"]["tokens"], opcodes, values) \
        == funding_script(fund_b, fund_a)
    assert _render(templates["anchor"]["tokens"], opcodes, values) == anchor_script(fund_a)
    assert _render(templates["to_remote_anchors"]["tokens"], opcodes, values) \
        == to_remote_anchors_script(h(keys["remote_payment_basepoint"]))
    assert checked == 28


def test_anchor_htlc_witness_scripts_inside_vector_txs(setup, anchors_cases):
    """The witness script carried by every Appendix F HTLC tx is our anchors HTLC script."""
    keys = setup.data["keys"]
    rev, remote_htlc, local_htlc = (h(keys["local_revocation_pubkey"]),
                                    h(keys["remote_htlcpubkey"]), h(keys["local_htlcpubkey"]))
    ours = set()
    for htlc in setup.htlcs.values():
        ours.add(offered_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash, True))
        ours.add(received_htlc_script(rev, remote_htlc, local_htlc, htlc.payment_hash,
                                      htlc.cltv_expiry, True))
    seen = 0
    for case in anchors_cases:
        for item in case["htlc_txs"]:
            tx = Transaction.from_hex(item["tx_hex"])
            assert tx.inputs[0].witness[-1] in ours
            seen += 1
    assert seen == 15


def test_precomputed_keys_give_the_same_tx_and_must_match(setup):
    case = setup.data["cases"][1]
    commitment = _build(setup, case, anchors=False, htlc_ids=case["htlc_ids"])
    spec = commitment.spec
    again = build_commitment_tx(setup.funding, setup.local, setup.remote, spec,
                                setup.per_commitment_point, commitment.keys)
    assert again.tx == commitment.tx
    other_point = public_key(b"\x05" * 32)
    with pytest.raises(CommitmentError, match="precomputed keys"):
        build_commitment_tx(setup.funding, setup.local, setup.remote, spec, other_point,
                            commitment.keys)


def test_party_config_rejects_bad_keys_and_delays(setup):
    with pytest.raises(CommitmentError, match="htlc_basepoint"):
        replace(setup.local, htlc_basepoint=b"\x02" + bytes(32))
    with pytest.raises(CommitmentError, match="funding_pubkey"):
        replace(setup.local, funding_pubkey=setup.local.funding_pubkey[:32])
    with pytest.raises(CommitmentError, match="to_self_delay"):
        replace(setup.local, to_self_delay=70_000)
    with pytest.raises(CommitmentError, match="dust_limit_sat"):
        replace(setup.local, dust_limit_sat=-1)
