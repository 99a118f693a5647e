"""Attribute names of the OpenTelemetry GenAI semantic conventions, current and legacy, in one place.

Both the SDK side (what we emit) and the intake side (what we read) use these names, so a rename in the
conventions is a one-line change here.
"""

from __future__ import annotations

# --- current names (semconv 1.37+) -------------------------------------------------------------
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CONVERSATION_ID = "gen_ai.conversation.id"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
OUTPUT_TYPE = "gen_ai.output.type"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_SYSTEM_FINGERPRINT = "gen_ai.response.system_fingerprint"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "gen_ai.openai.response.system_fingerprint"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

#: The event that carries message content when an instrumentation emits it as a log/event.
EVENT_OPERATION_DETAILS = "gen_ai.client.inference.operation.details"
#: Evaluation verdicts written back into telemetry.
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"

REQUEST_PARAMETERS = (
    REQUEST_TEMPERATURE,
    REQUEST_TOP_P,
    REQUEST_TOP_K,
    REQUEST_MAX_TOKENS,
    REQUEST_FREQUENCY_PENALTY,
    REQUEST_PRESENCE_PENALTY,
    REQUEST_SEED,
    REQUEST_STOP_SEQUENCES,
    REQUEST_CHOICE_COUNT,
)

# --- legacy names, still sent by many instrumentations ------------------------------------------
SYSTEM = "gen_ai.system"  # replaced by gen_ai.provider.name
USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"  # replaced by gen_ai.usage.input_tokens
USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"  # replaced by gen_ai.usage.output_tokens
#: Per-message span events / log events of semconv <= 1.36.
EVENT_SYSTEM_MESSAGE = "gen_ai.system.message"
EVENT_USER_MESSAGE = "gen_ai.user.message"
EVENT_ASSISTANT_MESSAGE = "gen_ai.assistant.message"
EVENT_TOOL_MESSAGE = "gen_ai.tool.message"
EVENT_CHOICE = "gen_ai.choice"
#: OpenLLMetry (and xai-sdk) indexed attributes:
#: gen_ai.prompt.{N}.role / .content, gen_ai.completion.{N}.content
PROMPT_PREFIX = "gen_ai.prompt."
COMPLETION_PREFIX = "gen_ai.completion."

# --- resource attributes ---------------------------------------------------------------------------
SERVICE_NAME = "service.name"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
DEPLOYMENT_ENVIRONMENT_LEGACY = "deployment.environment"

# --- Watchkeeper's own namespace -------------------------------------------------------------------
#: sha256 (hex) of the system instructions, recorded even when content capture is off.
WK_SYSTEM_INSTRUCTIONS_SHA256 = "watchkeeper.system_instructions.sha256"
#: Seconds to the first streamed chunk, when the instrumentation measured it.
WK_TIME_TO_FIRST_CHUNK = "watchkeeper.time_to_first_chunk"
#: What the SDK's redaction removed from the content it recorded (kinds and counts, never values):
#: `watchkeeper.redaction.<part>.<kind>.<field>`, part `input` (request messages and system instructions)
#: or `output` (the answers), kind a redaction kind (`email`, `card`, `phone`, `api_key`, ...), field `count`
#: (values removed), and for the output `echoed_count` (of them, also in the request) and `reserved_count`
#: (of them, reserved or placeholder values: example.com, 555-01xx, published test cards).
WK_REDACTION_PREFIX = "watchkeeper.redaction."
REDACTION_PARTS = ("input", "output")
REDACTION_FIELDS = ("count", "echoed_count", "reserved_count")


def redaction_attribute(part: str, kind: str, field: str = "count") -> str:
    """The attribute name for what redaction removed: `watchkeeper.redaction.output.card.count`."""
    return f"{WK_REDACTION_PREFIX}{part}.{kind}.{field}"


def parse_redaction_attribute(name: str) -> tuple[str, str, str] | None:
    """(part, kind, field) of a redaction attribute name, or None for any other attribute."""
    if not name.startswith(WK_REDACTION_PREFIX):
        return None
    part, _, rest = name[len(WK_REDACTION_PREFIX) :].partition(".")
    kind, _, field = rest.rpartition(".")
    if part not in REDACTION_PARTS or not kind or field not in REDACTION_FIELDS:
        return None
    return part, kind, field


#: Provider names as senders spell them -> one canonical value (the semconv well-known values).
PROVIDER_ALIASES = {
    "openai": "openai",
    "azure.ai.openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure.ai.inference": "azure.ai.inference",
    "az.ai.inference": "azure.ai.inference",
    "xai": "x_ai",
    "x_ai": "x_ai",
    "x-ai": "x_ai",
    "grok": "x_ai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws.bedrock",
    "gcp.gemini": "gcp.gemini",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "mistral_ai": "mistral_ai",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "ibm.watsonx.ai": "ibm.watsonx.ai",
}


#: Finish reasons as some SDKs spell them (xai-sdk's FinishReason enum names) -> the common values, so
#: truncation and tool-call rates do not split on the spelling. "" means no reason.
FINISH_REASONS = {
    "REASON_STOP": "stop",
    "REASON_MAX_LEN": "length",
    "REASON_MAX_CONTEXT": "length",
    "REASON_TOOL_CALLS": "tool_calls",
    "REASON_TIME_LIMIT": "time_limit",
    "REASON_INVALID": "",
    "max_tokens": "length",
    "end_turn": "stop",
}


def normalize_finish_reason(reason: str) -> str:
    return FINISH_REASONS.get(reason, reason)


def normalize_provider(name: str | None) -> str:
    """One spelling per provider, so baselines and labels do not split on `xai` vs `x_ai`."""
    if not name:
        return "unknown"
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)
