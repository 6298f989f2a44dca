"""Search query rules and the retention cutoff: pure code, no services."""

from datetime import datetime, timedelta, timezone

import pytest

from alpr.store.retention import cutoff
from alpr.store.search import Near, SearchError, SearchQuery, build_sql

NOW = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("query, message", [
    (SearchQuery(), "time range"),
    (SearchQuery(plate="*A*"), "two fixed characters"),
    (SearchQuery(plate="7A?C*", fuzzy=True), "one or the other"),
    (SearchQuery(plate="ABCDEFGHIJ"), "longer than"),
    (SearchQuery(plate="ABC123", page_size=5000), "page size"),
    (SearchQuery(plate="ABC123", near=Near(91, 0, 10)), "valid latitude"),
    (SearchQuery(since=NOW, until=NOW - timedelta(days=1)), "before"),
    (SearchQuery(plate="ABC123", since=datetime(999, 1, 1, tzinfo=timezone.utc)), "outside 1900-2299"),
])
def test_bad_searches_are_refused_with_the_reason(query, message):
    with pytest.raises(SearchError, match=message):
        build_sql(query, "alpr")


def test_search_sql_binds_every_value_as_a_parameter():
    sql, params = build_sql(SearchQuery(plate="7ab'c*", cameras=("x'); DROP TABLE reads; --",)), "alpr")
    assert "DROP" not in sql and "'" not in sql
    assert params["like"] == "7ABC%" and params["cameras"] == ["x'); DROP TABLE reads; --"]


def test_cutoff_counts_whole_years_back():
    assert cutoff(NOW, 2) == datetime(2024, 11, 29, 12, tzinfo=timezone.utc)
    assert cutoff(datetime(2028, 2, 29, tzinfo=timezone.utc), 2) == datetime(2026, 2, 28, tzinfo=timezone.utc)
    assert cutoff(NOW, 7) == NOW - timedelta(days=365 * 7 + 2)
