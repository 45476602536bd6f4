"""Judges, trajectory checks, rejection sampling, dedup and decontamination (later issues)."""
