"""The leakage detector."""
