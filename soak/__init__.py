"""Soak and chaos: the whole app under load and faults, then its invariants checked."""
