"""Core of the ALPR system, one package per concern; ``alpr.app`` composes them.

    domain    pure rules and types (no I/O)          messages  Kafka formats, topics, producers, ingest
    store     ClickHouse: schema, search, audit ...   hotlists  hot lists in Redis, importers
    access    the access gate and sessions            dev       local stack and camera simulator
    app       CLI, HTTP API, demo: the only package that imports ``flows``, ``detectors``, ``sinks``

``config``, ``metrics``, ``crypto`` and ``retry`` serve them all. ``tests/core/test_layers.py``
holds the import rules.
"""

__version__ = "0.1.0"
