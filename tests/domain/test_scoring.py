from alpr.domain.scoring import center_inside, char_accuracy, confusions, edit_distance, iou, percentile
from alpr.domain.types import Box


def test_iou():
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == 50 / 150
    assert iou(Box(0, 0, 10, 10), Box(20, 20, 5, 5)) == 0.0
    assert center_inside(Box(4, 4, 2, 2), Box(0, 0, 10, 10)) and not center_inside(Box(20, 0, 2, 2), Box(0, 0, 10, 10))


def test_edit_distance_and_char_accuracy():
    assert edit_distance("ABC123", "ABC123") == 0
    assert edit_distance("ABC123", "A8C123") == 1
    assert edit_distance("ABC123", "ABC1234") == 1
    assert edit_distance("", "ABC") == 3
    assert char_accuracy("A8C123", "ABC123") == 1 - 1 / 6
    assert char_accuracy("", "ABC123") == 0.0
    assert char_accuracy("XXXXXXXXXXXX", "AB") == 0.0


def test_confusions_count_aligned_substitutions_only():
    c = confusions([("A8C1O3", "ABC103"), ("ABC1234", "ABC123"), ("ABC123", "ABC123")])
    assert c == {("B", "8"): 1, ("0", "O"): 1}


def test_percentile():
    assert percentile([], 0.5) == 0.0
    assert percentile([5.0], 0.95) == 5.0
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95


def test_calibration_error_and_bins():
    from alpr.domain.scoring import calibration

    # Perfectly calibrated: 0.9 readings right 9 times in 10, 0.1 readings right 1 time in 10.
    confs = [0.9] * 10 + [0.1] * 10
    right = [True] * 9 + [False] + [True] + [False] * 9
    error, bins = calibration(confs, right)
    assert error < 1e-9 and bins == [(0.1, 0.1, 10), (0.9, 0.9, 10)]
    # Overconfident: 0.95 readings right only half the time.
    error, _ = calibration([0.95] * 4, [True, False, True, False])
    assert abs(error - 0.45) < 1e-9
    assert calibration([], []) == (0.0, [])


def test_each_misread_falls_in_one_class():
    from alpr.domain.scoring import error_class

    truth = "7ABC123"
    assert error_class(truth, truth) == "exact"
    assert error_class("", truth, detected=False) == "not_found"
    assert error_class("XYZ", truth, detected=False) == "not_found"  # read elsewhere in the frame, not here
    assert error_class("", truth, detected=True) == "nothing_read"
    assert error_class("ABC123", truth) == error_class("7ABC12", truth) == "edge_dropped"
    assert error_class("J7ABC123", truth) == error_class("7ABC1231", truth) == "edge_extra"
    assert error_class("7AB123", truth) == "inner_dropped"
    assert error_class("7ABCC123", truth) == "inner_extra"
    assert error_class("7A8C123", truth) == "lookalike"  # B/8: the hot lists forgive it
    assert error_class("7AMC123", truth) == "substitution"  # B/M: they do not
    assert error_class("5551234", truth) == "wrong_line"  # a phone number taken for the plate
    assert error_class("7ABC1", truth) == "other"
