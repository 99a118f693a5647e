"""Test support: real components the tests start and stop (the Kafka-protocol broker)."""
