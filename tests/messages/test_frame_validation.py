"""Frame headers are checked strictly, and nothing a producer sends makes validation raise: a
message that crashes the flow is replayed, and crashes it again, after every restart. Its dead
letter must fit our producer too."""

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpr.domain.types import FrameMeta, Location
from alpr.messages import frames
from flows.steps import Frame, Rejected, validate
from sinks.kafka import SIZE_MARGIN, dead_letter_message, message_size

META = FrameMeta("cam-1", "cam-1-1700000000123", datetime.fromtimestamp(1700000000.123, timezone.utc),
                 Location(40.5, -74.25), ("ABC1234",))
JPEG = frames.encode_jpeg(np.full((16, 16, 3), 128, np.uint8))
KEY, VALUE, HEADERS = frames.to_message(META, JPEG)
NAMES = [frames.H_SCHEMA, frames.H_CAMERA, frames.H_FRAME, frames.H_CAPTURED, frames.H_LAT, frames.H_LON,
         frames.H_TRUTH, frames.H_CONTENT_TYPE]


def message(key=KEY, value=VALUE, headers=HEADERS) -> KafkaSourceMessage:
    return KafkaSourceMessage(key, value, topic="frames", headers=list(headers), offset=7, partition=0)


def replaced(name: str, value: bytes | None) -> list:
    return [(k, v) for k, v in HEADERS if k != name] + [(name, value)]


@pytest.mark.parametrize("name, value", [
    (frames.H_CAPTURED, "²".encode()),  # str.isdigit() is true, int() refuses it
    (frames.H_CAPTURED, "١٧٠٠٠٠٠٠٠٠١٢٣".encode()),  # Arabic-Indic digits: int() takes them
    (frames.H_CAPTURED, b"99999999999999999999"),  # datetime.fromtimestamp: OSError (errno 75) or OverflowError
    (frames.H_CAPTURED, b"4102444800000"),  # 2100: no camera clock is that far ahead
    (frames.H_CAPTURED, b"0"),  # 1970: a camera that lost its clock
    (frames.H_CAPTURED, b"-5"),
    (frames.H_LAT, b"nan"),
    (frames.H_LAT, b"1e400"),  # float() gives inf
    (frames.H_LON, "١٢".encode()),  # float() takes other scripts' digits
    (frames.H_LON, b"1_0"),
    (frames.H_LAT, b"9" * 5000),
    (frames.H_CAMERA, b"cam\x00-1"),
    (frames.H_FRAME, "frame\u200b\n".encode()),
    (frames.H_FRAME, b"f" * 129),
    (frames.H_FRAME, b"\xff\xfe"),  # not UTF-8
    (frames.H_TRUTH, b"[" * 3000),  # json.loads: RecursionError
    (frames.H_TRUTH, b'{"a": 1}'),
    (frames.H_TRUTH, b"[1, 2]"),
])
def test_a_bad_header_is_rejected_with_its_reason(name, value):
    out = validate(message(key=KEY if name != frames.H_CAMERA else None, headers=replaced(name, value)))
    assert isinstance(out, Rejected) and out.reason == "bad_header", out
    assert out.stage == "validate" and len(out.detail) <= frames.MAX_DETAIL_CHARS


def test_a_frame_over_the_producers_limit_is_too_large():
    out = validate(message(value=b"\xff\xd8" + bytes(frames.MAX_FRAME_BYTES)))
    assert isinstance(out, Rejected) and out.reason == "too_large"


def test_the_capture_time_may_be_a_little_ahead_but_not_a_day():
    now = datetime.fromtimestamp(1700000000, timezone.utc)
    ahead = lambda s: replaced(frames.H_CAPTURED, str(1700000000_000 + s * 1000).encode())  # noqa: E731
    assert frames.parse(KEY, VALUE, ahead(3600), now=now)[0].captured_at.timestamp() == 1700003600
    with pytest.raises(frames.FrameError):
        frames.parse(KEY, VALUE, ahead(2 * 86400), now=now)


def test_a_good_frame_still_passes():
    out = validate(message())
    assert isinstance(out, Frame) and out.meta == META and out.jpeg == VALUE


# -- fuzz ------------------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from([
    "²", "³", "١٢٣", "१२३", "１２３", "1700000000123", "99999999999999999999", "1" * 400, "-1", "+1", " 12 ",
    "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e400", "-0", "0.0", "1_000", "0x10", "40.5", "-74.25",
    "", " ", "\x00", "\u200b", "\ud7ff", "cam-1", "[]", '["ABC123"]', "[[[[", "null", '{"a": 1}',
])
HEADER_VALUE = st.one_of(
    st.none(),
    st.binary(max_size=64),
    ODD_TEXT.map(str.encode),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers().map(lambda n: str(n).encode()),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
)
HEADER_NAME = st.one_of(st.sampled_from(NAMES), st.text(max_size=12))
PAYLOAD = st.one_of(st.none(), st.binary(max_size=64), st.binary(max_size=64).map(lambda b: b"\xff\xd8" + b),
                    st.just(JPEG))
KEY_ST = st.one_of(st.none(), st.just(KEY), st.binary(max_size=32), ODD_TEXT.map(str.encode))


@st.composite
def messages(draw) -> KafkaSourceMessage:
    """Mostly a well-formed frame with some headers replaced, so the checks past the first are reached."""
    headers = list(HEADERS) if draw(st.booleans()) else []
    for name, value in draw(st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=8)):
        if draw(st.booleans()):
            headers = [(k, v) for k, v in headers if k != name]
        headers.append((name, value))
    return message(key=draw(KEY_ST), value=draw(PAYLOAD), headers=draw(st.permutations(headers)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_no_message_makes_validation_raise(msg):
    try:
        meta, _ = frames.parse(msg.key, msg.value, msg.headers)
    except frames.FrameError as exc:
        assert exc.reason in frames.REASONS and len(exc.detail) <= frames.MAX_DETAIL_CHARS
    else:
        assert meta.camera_id.isprintable() and len(meta.camera_id) <= frames.MAX_ID_CHARS
        assert meta.frame_id.isprintable() and len(meta.frame_id) <= frames.MAX_ID_CHARS
        assert frames.EARLIEST_CAPTURE <= meta.captured_at
        assert math.isfinite(meta.location.latitude) and math.isfinite(meta.location.longitude)

    out = validate(msg)  # the flow's step: the same checks, never an exception
    assert isinstance(out, (Frame, Rejected))
    if isinstance(out, Rejected):
        assert out.reason in frames.REASONS, out  # not "invalid": parse foresaw every case
        assert out.msg is msg


# -- dead letters fit the producer ---------------------------------------------------------------

def test_a_dead_letter_keeps_the_message_whole_when_it_fits():
    out = dead_letter_message(message(), "dlq", "validate", "bad_header", "why")
    assert (out.key, out.value) == (KEY, VALUE) and out.headers[: len(HEADERS)] == HEADERS
    assert dict(out.headers)["dlq_source"] == b"frames/0/7" and "dlq_size" not in dict(out.headers)


def test_a_dead_letter_too_big_for_the_producer_leaves_out_what_does_not_fit():
    big = dead_letter_message(message(value=b"\xff\xd8" + bytes(2000)), "dlq", "validate", "too_large", "x",
                              max_bytes=SIZE_MARGIN + 1000)
    assert big.value is None and big.key == KEY and big.headers[: len(HEADERS)] == HEADERS
    assert int(dict(big.headers)["dlq_size"]) > 2000
    huge_headers = HEADERS + [("junk", bytes(5000))]
    bare = dead_letter_message(message(headers=huge_headers), "dlq", "validate", "bad_header", "x",
                               max_bytes=SIZE_MARGIN + 1000)
    assert bare.key is None and bare.value is None
    assert [k for k, _ in bare.headers] == ["dlq_stage", "dlq_reason", "dlq_detail", "dlq_source", "dlq_size"]
    for m in (big, bare):
        assert message_size(m.key, m.value, m.headers) <= 1000
