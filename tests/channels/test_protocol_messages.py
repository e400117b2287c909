"""Channel messages: every type round-trips; malformed frames get a typed error naming the
reason and the field."""

from __future__ import annotations

import msgpack
import pytest

from wattchain.channels import messages as m

K33 = b"\x02" + b"\x11" * 32
H32 = b"\x22" * 32
SIG = b"\x30" + b"\x44" * 70

SAMPLES: list[m.Message] = [
    m.OpenChannel(H32, H32, 1_000_000, 0, 546, 0, 1, 253, 144, 483, K33, K33, K33, K33, K33,
                  K33),
    m.AcceptChannel(H32, 546, 0, 1, 3, 144, 30, K33, K33, K33, K33, K33, K33),
    m.FundingCreated(H32, H32, 1, SIG),
    m.FundingSigned(H32, SIG),
    m.ChannelReady(H32, K33),
    m.UpdateAddHtlc(H32, 7, 5000, H32, 600_000, b"route"),
    m.CommitmentSigned(H32, SIG, [SIG, SIG]),
    m.RevokeAndAck(H32, H32, K33),
    m.UpdateFulfillHtlc(H32, 7, H32),
    m.UpdateFailHtlc(H32, 7, b"why"),
    m.Shutdown(H32, b"\x00\x14" + b"\x01" * 20),
    m.ClosingSigned(H32, 170, SIG),
    m.ChannelReestablish(H32, 5, 4),
    m.Error(H32, b"bad"),
    m.Init(K33),
]


def test_every_message_type_round_trips() -> None:
    assert {type(s) for s in SAMPLES} == set(m.MESSAGE_TYPES.values())
    for msg in SAMPLES:
        assert m.decode(msg.encode()) == msg


def _frame(**body: object) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def _fields(msg: m.Message) -> dict[str, object]:
    return msgpack.unpackb(msg.encode(), raw=False)


@pytest.mark.parametrize("frame, reason, detail", [
    (b"\xc1", "malformed", ""),
    (msgpack.packb([1, 2]), "malformed", "not a map"),
    (_frame(t="no_such"), "unknown-type", "no_such"),
    (_frame(t=5), "unknown-type", "5"),
])
def test_malformed_frames(frame: bytes, reason: str, detail: str) -> None:
    with pytest.raises(m.MessageDecodeError) as info:
        m.decode(frame)
    assert info.value.reason == reason and detail in info.value.detail


def test_field_errors_name_the_field() -> None:
    body = _fields(m.UpdateAddHtlc(H32, 7, 5000, H32, 600_000, b""))
    cases = [
        ({k: v for k, v in body.items() if k != "payment_hash"}, "missing-field",
         "update_add_htlc.payment_hash"),
        ({**body, "extra": 1}, "unknown-field", "update_add_htlc.extra"),
        ({**body, "payment_hash": b"\x00" * 31}, "bad-field", "must be 32 bytes"),
        ({**body, "amount_msat": -1}, "bad-field", "update_add_htlc.amount_msat: out of range"),
        ({**body, "amount_msat": "5000"}, "bad-field", "expected int, got str"),
        ({**body, "cltv_expiry": 2**32}, "bad-field", "cltv_expiry"),
        ({**body, "id": True}, "bad-field", "expected int, got bool"),
    ]
    for fields, reason, detail in cases:
        with pytest.raises(m.MessageDecodeError) as info:
            m.decode(_frame(**fields))
        assert info.value.reason == reason, fields
        assert detail in info.value.detail, (detail, info.value.detail)


def test_size_bounds() -> None:
    body = _fields(m.CommitmentSigned(H32, SIG, []))
    too_many = {**body, "htlc_signatures": [SIG] * (2 * m.MAX_HTLCS + 1)}
    with pytest.raises(m.MessageDecodeError) as info:
        m.decode(_frame(**too_many))
    assert info.value.reason in ("malformed", "oversized")
    with pytest.raises(m.MessageDecodeError) as info:
        m.decode(b"\x00" * (m.MAX_MESSAGE_BYTES + 1))
    assert info.value.reason == "oversized"
    bad_sig = {**body, "htlc_signatures": [b"short"]}
    with pytest.raises(m.MessageDecodeError, match="bad htlc signature"):
        m.decode(_frame(**bad_sig))
    with pytest.raises(m.MessageDecodeError, match="longer than"):
        m.decode(_frame(**{**_fields(m.Error(H32, b"")), "data": b"x" * (m.MAX_TEXT + 1)}))
    # the largest legal commitment_signed fits a frame
    biggest = m.CommitmentSigned(H32, SIG, [b"\x30" + b"\x01" * 72] * m.MAX_HTLCS)
    assert len(biggest.encode()) <= m.MAX_MESSAGE_BYTES
    assert m.decode(biggest.encode()) == biggest
