"""Plate detection and OCR. Uses the core package ``alpr``; never ``sinks`` or ``flows``."""
