"""The topic_injection detector."""
