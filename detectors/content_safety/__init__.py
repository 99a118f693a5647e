"""The content_safety detector."""
