import codecs
import csv
from datetime import datetime, timezone

import pytest

from alpr.hotlists.importer import STATE_FEED, FileError, decode, lines_of, parse_csv, parse_state_feed

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


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
                  {"plate": "TAG", "vehicle": "VEH", "expires": "END"}, now=NOW)
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
    assert e.state == "CA" and "plate_state" not in e.fields and e.fields["reason"] == "stolen vehicle"
    assert e.fields["entry_date"] == "2026-11-28" and e.fields["agency_ori"] == "CA0194200"


def test_state_feed_errors():
    lines = ["# header comment\n", feed_line(), feed_line()[:-3], feed_line(state="9X"), feed_line(date="20261341"),
             feed_line(reason="ZZ"), feed_line(year="20X9"), "", feed_line(plate="OK1")]
    p = parse_state_feed(lines)
    assert [e.plate for e in p.entries] == ["7ABC123", "OK1"]
    assert [(line, why.split()[0]) for line, why in p.errors] == [
        (3, "record"), (4, "plate_state"), (5, "entry_date"), (6, "reason"), (7, "vehicle_year")]


CSV = "plate,owner\nABC123,J\u00f6rg\n"


@pytest.mark.parametrize("data", [CSV.encode(), codecs.BOM_UTF8 + CSV.encode(), CSV.encode("utf-16"),
                                  codecs.BOM_UTF16_BE + CSV.encode("utf-16-be")])
def test_utf8_with_or_without_bom_and_utf16_with_bom_are_detected(data):
    p = parse_csv(lines_of(decode(data)))
    assert p.errors == [] and [dict(e.fields) for e in p.entries] == [{"owner": "J\u00f6rg"}]


def test_latin1_is_refused_with_where_and_what_to_do_unless_named():
    data = ("plate,owner\nABC123,Smith\nDEF456," + "J\u00f6rg\n").encode("latin-1")
    with pytest.raises(FileError, match=r"not UTF-8 at byte 33 \(line 3\): give --encoding latin-1"):
        decode(data)
    assert [dict(e.fields) for e in parse_csv(lines_of(decode(data, "latin-1"))).entries][1] == {"owner": "J\u00f6rg"}
    assert decode(codecs.BOM_UTF8 + b"plate\n", "UTF8") == "plate\n"  # a named UTF-8 still drops the BOM
    with pytest.raises(LookupError):
        decode(b"plate\n", "no-such-encoding")


def test_a_field_over_the_csv_limit_skips_only_its_row():
    huge = "x" * (csv.field_size_limit() + 1)
    p = parse_csv(lines_of(f"plate,note\nAAA111,ok\nBBB222,{huge}\nCCC333,ok\n"))
    assert [e.plate for e in p.entries] == ["AAA111", "CCC333"] and p.rows == 3
    assert p.errors == [(3, f"a field is longer than {csv.field_size_limit()} characters")]


def test_entries_already_ended_are_left_out_and_reported():
    p = parse_csv(["plate,expires\n", "OLD111,2026-05-31\n", "NEW222,2026-06-02\n", "ANY333,\n"], now=NOW)
    assert [e.plate for e in p.entries] == ["NEW222", "ANY333"] and p.errors == []
    assert p.expired == [(2, "entry for OLD111 ended at 2026-05-31T00:00:00+00:00")]


def test_plates_changed_beyond_case_spaces_and_dashes_are_reported():
    p = parse_csv(["plate\n", "abc-123\n", "bad plate!!\n", "J\u00d6RG1\n", "xyz 99\n"])
    assert [e.plate for e in p.entries] == ["ABC123", "BADPLATE", "JRG1", "XYZ99"]
    assert p.altered == [(3, "plate 'bad plate!!' loaded as 'BADPLATE'"), (4, "plate 'J\u00d6RG1' loaded as 'JRG1'")]
    feed = parse_state_feed([feed_line(plate="7AB.C12"), feed_line(plate="7AB C12")])
    assert feed.altered == [(1, "plate '7AB.C12' loaded as '7ABC12'")] and len(feed.entries) == 2


def test_csv_plate_state_column_is_the_entry_state_not_a_sealed_field():
    p = parse_csv(lines_of("tag,st,case\nABC123,Montana,C1\nDEF456,co,C2\nGHI789,,C3\nJKL012,Atlantis,C4\n"),
                  {"plate": "tag", "plate_state": "st", "case": "case"})
    assert [(e.plate, e.state, dict(e.fields)) for e in p.entries] == [
        ("ABC123", "MT", {"case": "C1"}), ("DEF456", "CO", {"case": "C2"}), ("GHI789", "", {"case": "C3"})]
    assert p.errors == [(5, "plate_state 'Atlantis' is not a US state code or name")]
    feed = parse_state_feed([feed_line(state="ZZ")])
    assert feed.errors == [(1, "plate_state 'ZZ' is not a US state code or name")]
