"""The alerts stage: findings -> incidents (grouping, lifecycle) -> routing -> durable outbox -> channels.

Start with `alerts.stage.AlertsStage`; the API and the dashboard use `alerts.service.AlertsService` (the
decisions) over `alerts.store` (the tables in the shared store).
"""
