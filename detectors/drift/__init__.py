"""The drift detector."""
