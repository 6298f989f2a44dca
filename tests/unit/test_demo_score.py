from alpr.demo import score


def test_score_counts_plates_read_and_reads_right():
    truth = {"f1": ("ABC123",), "f2": ("ABC123",), "f3": (), "f4": ("XYZ789",)}
    reads = [("f1", "ABC123"), ("f2", "A8C123"), ("f3", "5THST"), ("f4", "XYZ789")]
    s = score(truth, reads)
    assert s["plates_shown"] == 3
    assert s["read_accuracy"] == round(2 / 3, 4)
    assert s["read_precision"] == 0.5


def test_score_with_nothing():
    assert score({}, []) == {"plates_shown": 0, "read_accuracy": 0.0, "read_precision": 0.0}
