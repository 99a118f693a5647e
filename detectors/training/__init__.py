"""Training of the learned detectors from the public datasets (never shipped: only derived artifacts are)."""
