"""The leaf core: what every stage shares and nothing else.

Records (`records`: ModelCall; `findings`: Finding, Severity), the detector interface (`detector`), the bus
(`bus`: one interface, an embedded and a Kafka implementation), metrics, credential checks and the semantic
conventions. It imports nothing else of the project, so any stage can depend on it without a cycle.
"""
