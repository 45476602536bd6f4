"""Prefect flows and the drsynth CLI: thin wiring over storage, synth, filters and training."""
