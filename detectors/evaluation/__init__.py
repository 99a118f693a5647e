"""Offline quality evaluations of the learned detectors (printed tables, JSON for model cards)."""
