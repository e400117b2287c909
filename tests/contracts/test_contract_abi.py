"""Creation payloads and call data: canonical msgpack round trips and strict rejection."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattchain.contracts import abi
from wattchain.contracts.errors import AbiError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.text(max_size=20), st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(names, st.integers(0, 2**32 - 1), st.dictionaries(st.text(max_size=8), values,
                                                          max_size=4))
def test_create_round_trip(name, version, args):
    payload = abi.decode_create(abi.encode_create(name, version, args))
    assert (payload.class_name, payload.version, payload.args) == (name, version, args)


@given(names, st.lists(values, max_size=5))
def test_call_round_trip(method, args):
    call = abi.decode_call(abi.encode_call(method, args))
    assert (call.method, call.args) == (method, args)


@pytest.mark.parametrize("data, message", [
    (msgpack.packb({"method": "f", "args": [1.5]}), "unsupported type float"),
    (msgpack.packb({"method": "f", "args": [msgpack.ExtType(1, b"x")]}), "extension"),
    (b"\x82\xa6method\xa1f\xa4args\x91\xd0\x01", "canonical"),  # 1 as int8
    (msgpack.packb({"method": "f", "args": []}) + b"\x00", "ExtraData"),
    (b"\x82\xa6method", "msgpack"),
    (msgpack.packb({"method": "f"}), "exactly method, args"),
    (msgpack.packb({"method": "f", "args": [], "x": 1}), "exactly method, args"),
    (msgpack.packb({"method": "_private", "args": []}), "bad method name"),
    (msgpack.packb({"method": "a b", "args": []}), "bad method name"),
    (msgpack.packb({"method": "f", "args": {}}), "args must be an array"),
    (msgpack.packb({"method": "f", "args": [{1: 2}]}, strict_types=False), "msgpack"),
    (msgpack.packb({"method": "f", "args": [[[[[[[[[[1]]]]]]]]]]}), "nested too deeply"),
    (msgpack.packb([1, 2]), "exactly method, args"),
])
def test_bad_call_data_is_rejected(data, message):
    with pytest.raises(AbiError) as info:
        abi.decode_call(data)
    assert message in str(info.value)


@pytest.mark.parametrize("value, message", [
    ({"class": "A", "version": -1, "args": {}}, "version"),
    ({"class": "A", "version": True, "args": {}}, "version"),
    ({"class": "", "version": 1, "args": {}}, "bad class name"),
    ({"class": "A", "version": 1, "args": []}, "args must be a map"),
])
def test_bad_creation_payload_is_rejected(value, message):
    with pytest.raises(AbiError) as info:
        abi.decode_create(msgpack.packb(value))
    assert message in str(info.value)


def test_pack_refuses_floats_and_huge_ints():
    with pytest.raises(AbiError):
        abi.pack([0.5])
    with pytest.raises(AbiError):
        abi.pack(2**64)
