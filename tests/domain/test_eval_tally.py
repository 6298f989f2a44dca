"""How `alpr eval` counts a read: exactly as spelled, and as the hot lists would match it."""

from alpr.domain.scoring import Tally


def test_a_look_alike_misread_is_a_miss_but_still_a_hot_list_match():
    tally = Tally()
    tally.add("NOX218", "N0X218", ["N0X218", "NOX218"], None, 0.9)  # O read as 0: the truth is a candidate
    tally.add("YF2L6G", "YF26G", ["YF26G", "YF2L6G"], None, 0.7)  # a dropped character, found by a candidate
    tally.add("QTA827", "0TA827", ["0TA827"], None, 0.9)  # Q is no look-alike of 0 for the hot lists
    tally.add("ABC123", "ABC123", ["ABC123"], None, 0.99)
    assert (tally.top1, tally.topn) == (1, 3)
    assert (tally.match1, tally.matchn) == (2, 3)
