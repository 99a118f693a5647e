"""The alerts stage: findings -> incidents (grouping, lifecycle) -> routing -> durable outbox -> channels.

Start with `alerts.stage.AlertsStage`; the dashboard reads `AlertsStage.store` (`alerts.store.IncidentStore`).
"""
