"""The console feed's cursor: a browser's Last-Event-ID is the next offset of every topic partition,
so a resumed stream sends exactly what the browser has not seen, whichever server it reaches."""

from alpr.messages.hit_feed import FeedEvent, advanced, format_cursor, is_new, parse_cursor


def event(source: str, offset: int) -> FeedEvent:
    return FeedEvent(seq=0, kind="hit" if source[0] == "h" else "step", source=source, offset=offset,
                     published_ms=0, data={"hit_id": "a" * 32})


def test_a_cursor_round_trips_and_advances_per_partition():
    cursor: dict[str, int] = {}
    for e in (event("h0", 0), event("s0", 0), event("h0", 1), event("h1", 7)):
        assert is_new(cursor, e)
        cursor = advanced(cursor, e)
        assert not is_new(cursor, e)  # sent once
    assert format_cursor(cursor) == "h0:2,h1:8,s0:1"
    assert parse_cursor(format_cursor(cursor)) == cursor
    assert is_new(cursor, event("h0", 2)) and is_new(cursor, event("s1", 0)) and not is_new(cursor, event("h1", 3))
    assert advanced(cursor, event("h0", 0))["h0"] == 2  # an older event never moves it back


def test_an_unreadable_cursor_means_send_everything_held():
    for text in ("", "garbage", "x0:1", "h0:-1", "h0:1\nevent: hit", "h:1", "h0:" + "9" * 50):
        assert parse_cursor(text) == {}
    assert parse_cursor("h0:3,junk,s0:1") == {"h0": 3, "s0": 1}
