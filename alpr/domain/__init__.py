"""Pure rules and types: plates, matching, grouping, hits, scoring, roles, passwords. No I/O."""
