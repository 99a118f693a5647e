"""Watchkeeper: the composition root (daemon, CLI, config) and the message bus shared by all stages."""

__version__ = "0.1.0"
