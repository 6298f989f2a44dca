import pytest

from alpr.domain.matching import PatternSet, fold, normalize_pattern, validate_pattern


def test_fold_maps_confusables_to_digits():
    assert fold("OBSZGDI") == "0852601"
    assert fold("ABC1234") == fold("A8C1234") == "A8C1234"
    assert fold("5OS") == fold("S05")


def test_patterns_match_one_character_and_runs():
    ps = PatternSet(["AB?123", "*XYZ*", "7*9"])
    assert ps.matches("ABC123") == ["AB?123"]
    assert ps.matches("AB123") == []  # ? is exactly one character
    assert ps.matches("12XYZ9") == ["*XYZ*"]
    assert ps.matches("7ABC9") == ["7*9"]
    assert sorted(ps.matches("7XYZ9")) == ["*XYZ*", "7*9"]
    assert ps.matches("QQQ111") == []


def test_patterns_survive_confusable_misreads():
    ps = PatternSet(["AB?1O3"])
    assert ps.matches("A8C103") == ["AB?1O3"]


def test_empty_pattern_set():
    assert PatternSet([]).matches("ABC123") == []


@pytest.mark.parametrize("bad", ["*", "A*", "??", "*?*"])
def test_too_loose_patterns_are_refused(bad):
    with pytest.raises(ValueError):
        validate_pattern(bad)


def test_normalize_pattern_keeps_wildcards():
    assert normalize_pattern("ab-?12 *") == "AB?12*"


def test_pattern_index_agrees_with_plain_regex_matching():
    import random
    import re

    from alpr.dev.simulator.plates import fill

    rng = random.Random(4)
    patterns = sorted({fill(rng.choice(("LL?###*", "*L#L#*", "#LL?##", "L*###", "L?#*#", "*##")), rng) for _ in range(400)})
    ps = PatternSet(patterns)
    for _ in range(800):
        plate = fill(rng.choice(("LLL####", "#LLL###", "LL####", "L####")), rng)
        expected = sorted(p for p in patterns
                          if re.fullmatch("".join("." if c == "?" else ".*" if c == "*" else c for c in fold(p)), fold(plate)))
        assert ps.matches(plate) == expected


@pytest.mark.parametrize("read, listed, marks", [
    ("7ABC123", "7ABC123", "sssssss"),
    ("7A8C123", "7ABC123", "ssLssss"),  # 8 for B: a look-alike, as the confusable match allowed
    ("7XYZ99", "7?Y*", "swswww"),
    ("7ABC128", "7ABC123", "ssssssd"),  # matched through an OCR candidate: compared place by place
    ("ABC", "XYZ12", "ddd"),
])
def test_each_read_character_is_marked_against_the_listed_plate(read, listed, marks):
    from alpr.domain.matching import char_marks

    code = {"same": "s", "lookalike": "L", "wild": "w", "differs": "d"}
    got = char_marks(read, listed)
    assert "".join(c for c, _ in got) == read
    assert "".join(code[m] for _, m in got) == marks
