from datetime import datetime, timezone

from alpr.hotlist_import import STATE_FEED, parse_csv, parse_state_feed


def feed_line(plate="7ABC123", state="CA", ptype="PC", year="2019", make="HOND", model="CIVIC", colour="BLK",
              case="2026-004512", ori="CA0194200", date="20261128", reason="SV") -> str:
    values = [plate, state, ptype, year, make, model, colour, case, ori, date, reason]
    return "".join(v.ljust(b - a) for v, (_, a, b) in zip(values, STATE_FEED))


def test_csv_all_columns_become_fields():
    p = parse_csv(["Plate,Make,Case\n", "abc-123,Honda,C1\n", "XYZ 999,Ford,C2\n"])
    assert p.errors == [] and p.rows == 2
    assert [(e.plate, dict(e.fields)) for e in p.entries] == [
        ("ABC123", {"make": "Honda", "case": "C1"}), ("XYZ999", {"make": "Ford", "case": "C2"})]


def test_csv_bad_rows_are_reported_by_line_and_skipped():
    p = parse_csv(["plate,make\n", "ABC123,Honda\n", ",Ford\n", "DEF456\n", "\n", "GHI789,Kia\n", "*,Any\n"])
    assert [e.plate for e in p.entries] == ["ABC123", "GHI789"]
    assert [line for line, _ in p.errors] == [3, 4, 7]
    assert "no letters or digits" in p.errors[0][1] and "columns" in p.errors[1][1]


def test_csv_mapping_and_expiry():
    p = parse_csv(["TAG,VEH,END,IGNORED\n", "AB?123,white van,2026-12-31,x\n"],
                  {"plate": "TAG", "vehicle": "VEH", "expires": "END"})
    assert p.errors == []
    (e,) = p.entries
    assert e.plate == "AB?123" and dict(e.fields) == {"vehicle": "white van"}
    assert e.expires_at == datetime(2026, 12, 31, tzinfo=timezone.utc)


def test_csv_without_plate_column_loads_nothing():
    p = parse_csv(["tag,make\n", "ABC123,Honda\n"])
    assert p.entries == [] and p.errors[0][0] == 1 and "plate" in p.errors[0][1]


def test_state_feed_record():
    p = parse_state_feed([feed_line() + "\n"])
    assert p.errors == []
    (e,) = p.entries
    assert e.plate == "7ABC123"
    assert e.fields["plate_state"] == "CA" and e.fields["reason"] == "stolen vehicle"
    assert e.fields["entry_date"] == "2026-11-28" and e.fields["agency_ori"] == "CA0194200"


def test_state_feed_errors():
    lines = ["# header comment\n", feed_line(), feed_line()[:-3], feed_line(state="9X"), feed_line(date="20261341"),
             feed_line(reason="ZZ"), feed_line(year="20X9"), "", feed_line(plate="OK1")]
    p = parse_state_feed(lines)
    assert [e.plate for e in p.entries] == ["7ABC123", "OK1"]
    assert [(line, why.split()[0]) for line, why in p.errors] == [
        (3, "record"), (4, "plate_state"), (5, "entry_date"), (6, "reason"), (7, "vehicle_year")]
