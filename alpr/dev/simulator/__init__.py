"""Synthetic camera traffic with known truth, for demos, tests and detector training."""
