"""Shared fixtures: the Kafka-protocol broker comes from tests.support.broker."""

pytest_plugins = ["tests.support.broker"]
