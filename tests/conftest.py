"""Shared fixtures: the Kafka-protocol broker (tests.support.broker) and PostgreSQL
(tests.support.postgres)."""

pytest_plugins = ["tests.support.broker", "tests.support.postgres"]
