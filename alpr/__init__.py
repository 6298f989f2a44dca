"""Core of the ALPR system: domain types, configuration, CLI, hot lists and the local stack.

This package imports none of ``flows``, ``detectors`` or ``sinks``; they depend on it.
"""

__version__ = "0.1.0"
