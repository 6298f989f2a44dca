from datetime import datetime, timezone

import numpy as np
import pytest

from alpr.domain.plates import PlateFormat, fit_layout, is_plausible, normalize, parse_layouts, readings
from alpr.domain.types import FrameMeta, Location
from alpr.messages import frames


@pytest.mark.parametrize("raw, plate", [("abc-1234", "ABC1234"), (" 7 xyz 123 ", "7XYZ123"), ("DP= 7160", "DP7160")])
def test_normalize(raw, plate):
    assert normalize(raw) == plate


@pytest.mark.parametrize("plate, ok", [
    ("ABC1234", True), ("7XYZ123", True), ("12345", True), ("LL12345L", True),
    ("CALIFORNIA", False),  # state name
    ("TEXAS", False),  # no digit: a slogan or state, not a serial
    ("20261129120840", False),  # camera clock
    ("A", False), ("abc123", False),
])
def test_plausible(plate, ok):
    assert is_plausible(plate) is ok


def test_all_letter_plates_count_only_where_asked():
    assert not is_plausible("NTGUILTY") and is_plausible("NTGUILTY", letters_only=True)
    assert not is_plausible("A", letters_only=True) and not is_plausible("ntguilty", letters_only=True)


META = FrameMeta("cam-1", "cam-1-1700000000123", datetime.fromtimestamp(1700000000.123, timezone.utc),
                 Location(40.5, -74.25), ("ABC1234",))


def _jpeg():
    return frames.encode_jpeg(np.full((32, 48, 3), 128, np.uint8))


def test_round_trip():
    key, value, headers = frames.to_message(META, _jpeg())
    meta, jpeg = frames.parse(key, value, headers)
    assert meta == META
    assert frames.decode_image(jpeg).shape == (32, 48, 3)


def _without(headers, name):
    return [(k, v) for k, v in headers if k != name]


def _with(headers, name, value):
    return _without(headers, name) + [(name, value)]


@pytest.mark.parametrize("mutate, reason", [
    (lambda k, v, h: (k, v, _without(h, "camera_id")), "missing_header"),
    (lambda k, v, h: (k, v, _without(h, "captured_at_ms")), "missing_header"),
    (lambda k, v, h: (k, v, _with(h, "captured_at_ms", b"yesterday")), "bad_header"),
    (lambda k, v, h: (k, v, _with(h, "latitude", b"91.0")), "bad_header"),
    (lambda k, v, h: (k, v, _with(h, "longitude", b"nan")), "bad_header"),
    (lambda k, v, h: (k, v, _with(h, "frame_id", b"")), "bad_header"),
    (lambda k, v, h: (b"other-cam", v, h), "bad_header"),
    (lambda k, v, h: (k, b"", h), "empty_payload"),
    (lambda k, v, h: (k, b"GIF89a....", h), "not_jpeg"),
])
def test_malformed_messages_give_a_reason(mutate, reason):
    k, v, h = mutate(*frames.to_message(META, _jpeg()))
    with pytest.raises(frames.FrameError) as exc:
        frames.parse(k, v, h)
    assert exc.value.reason == reason


def test_corrupt_jpeg_is_undecodable():
    with pytest.raises(frames.FrameError) as exc:
        frames.decode_image(b"\xff\xd8" + b"\x00garbage" * 50)
    assert exc.value.reason == "undecodable_image"


def test_readings_prefer_zero_and_keep_the_letter_o_as_candidate():
    assert readings("ABC123") == ["ABC123"]
    assert readings("WHO515") == ["WH0515", "WHO515"]
    assert readings("WHO515", o_is_zero=False) == ["WHO515"]


def test_look_alikes_are_swapped_to_fit_the_regions_layouts():
    brazil = parse_layouts("LLL####, lll#l##")
    assert brazil == ("LLL####", "LLL#L##")
    assert fit_layout("0KM2371", brazil) == "OKM2371"  # 0 in a letter slot is O
    assert fit_layout("8BC12S4", brazil) == "BBC1254"  # 8 in a letter slot, S in a digit slot
    assert fit_layout("B8S0O12", brazil) == "BBS0O12"  # the layout needing the fewest swaps (Mercosul)
    assert fit_layout("ABC1D23", brazil) == "ABC1D23"  # the Mercosul layout
    assert fit_layout("ABC12", brazil) is None and fit_layout("ABC12X4", brazil) is None  # X is no digit
    fmt = PlateFormat(o_is_zero=False, layouts=brazil)
    assert fmt.readings("0KM2371") == ["OKM2371", "0KM2371"]
    assert fmt.readings("WHO515") == ["WHO515"]  # fits no layout: as read, no O/0 rule
    assert PlateFormat(layouts=brazil).readings("WHO515") == ["WH0515", "WHO515"]
    assert fmt.fits("0KM2371") and not fmt.fits("BWO406") and not fmt.fits("OKG4036L")
    assert PlateFormat().fits("BWO406")  # a region without layouts takes any text
    for bad in ("LLL-###", "L", "LLLL#####"):
        with pytest.raises(ValueError, match="is not a layout"):
            parse_layouts(bad)
