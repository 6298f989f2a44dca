from alpr.domain.scoring import pass_scores


def test_score_counts_passes_read_and_passes_right():
    truth = {"f1": ("cam-1", ("ABC123",)), "f2": ("cam-1", ("ABC123",)), "f3": ("cam-1", ()),
             "f4": ("cam-2", ("XYZ789",)), "f5": ("cam-2", ("ABC123",))}
    passes = [("f2", "ABC123"), ("f3", "5THST"), ("f4", "XYZ78")]
    s = pass_scores(truth, passes)
    assert s["plates_shown"] == 3  # ABC123 on cam-1 and on cam-2, XYZ789 on cam-2
    assert s["read_accuracy"] == round(1 / 3, 4)
    assert s["read_precision"] == round(1 / 3, 4)
    assert s["misread_passes"] == [{"stored": "5THST", "shown": []}, {"stored": "XYZ78", "shown": ["XYZ789"]}]


def test_score_with_nothing():
    assert pass_scores({}, []) == {"plates_shown": 0, "read_accuracy": 0.0, "read_precision": 0.0,
                                "misread_passes": []}
