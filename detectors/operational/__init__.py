"""The operational detector."""
