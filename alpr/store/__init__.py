"""ClickHouse: schema migrations, search, retention, evidence, users, the access log, the SQL guard."""
