"""The integrity detector."""
