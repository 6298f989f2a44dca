"""The Kafka side: frame and hit message formats, topics, producers, the checked frames source, camera ingest."""
