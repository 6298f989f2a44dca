"""Outputs of the flow: ClickHouse tables and Kafka topics. Uses ``alpr``; never ``detectors`` or ``flows``."""
