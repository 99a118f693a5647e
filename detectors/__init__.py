"""The detectors stage: spans -> ModelCalls -> one folder per detector -> findings."""
