"""An example detector plug-in: flags answers that contain one of a configured list of keywords.

Everything Watchkeeper needs is here: the settings (`detectors.keyword` in watchkeeper.yaml), the metadata
(pager title, description, severity, evidence schema) and the detector, named by one entry point.
"""

from __future__ import annotations

from pydantic import Field as SettingField

from watchkeeper.core.detector import Detector, DetectorMetadata, DetectorPlugin, DetectorSettings
from watchkeeper.core.evidence import EvidenceSchema, Field, KeyValues, Row, Text
from watchkeeper.core.findings import Finding, Severity, make_finding
from watchkeeper.core.records import ModelCall


class KeywordSettings(DetectorSettings):
    keywords: list[str] = SettingField(default_factory=lambda: ["project bluebird"])


METADATA = DetectorMetadata(
    name="keyword",
    description="a confidential code name in model answers",
    default_severity=Severity.error,
    severity_reason="code names must never reach users",
    titles=(("keyword.", "Confidential code name in answers ({kind})"),),
    evidence=EvidenceSchema(
        fields=(Field("keyword", "string", "the keyword found"), Field("position", "integer")),
        layout=(
            Text("excerpt", "Answer containing the code name", highlight=("keyword",)),
            KeyValues((Row("Matched keyword", "keyword", "code"), Row("Position in the answer", "position"))),
        ),
    ),
)


class KeywordDetector(Detector):
    name = "keyword"
    settings_class = KeywordSettings
    metadata = METADATA
    settings: KeywordSettings

    def observe(self, call: ModelCall) -> list[Finding]:
        text = call.output_text.lower()
        for keyword in self.settings.keywords:
            position = text.find(keyword.lower())
            if position >= 0:
                return [
                    make_finding(
                        call,
                        detector=self.name,
                        category=f"keyword.{keyword.replace(' ', '_')}",
                        severity=self.severity(METADATA.default_severity),
                        score=1.0,
                        summary=f"answer of {call.service} names {keyword!r}",
                        excerpt=call.output_text,
                        evidence={
                            "keyword": call.output_text[position : position + len(keyword)],
                            "position": position,
                        },
                    )
                ]
        return []


plugin = DetectorPlugin(metadata=METADATA, settings_class=KeywordSettings, load=lambda: KeywordDetector)
