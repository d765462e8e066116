"""Span attribute names that OTLP trace ingest reads.

OpenTelemetry GenAI semantic conventions (``gen_ai.*``), OpenInference (``llm.*``,
used by Arize Phoenix and LlamaIndex/LangChain instrumentations) and opsdash's own
``opsdash.*`` names. Where several names carry the same fact, the tuples below list
them in order of preference: newer conventions before the ones they replace.
"""

# Names containing "token" are attribute names, not secrets.
# ruff: noqa: S105

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI ------------------------------------------------------------------
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # replaced by gen_ai.provider.name
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # replaced by input_tokens
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"  # replaced by output_tokens
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
# Seconds. The first is a metric name that some instrumentations also set on the span.
GEN_AI_SERVER_TIME_TO_FIRST_TOKEN: Final = "gen_ai.server.time_to_first_token"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"

# --- General OpenTelemetry ----------------------------------------------------------------
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

# --- OpenInference ------------------------------------------------------------------------
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_PROVIDER: Final = "llm.provider"
LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"

# --- opsdash ------------------------------------------------------------------------------
OPSDASH_TENANT: Final = "opsdash.tenant"
OPSDASH_ROUTE: Final = "opsdash.route"
OPSDASH_PROMPT_ID: Final = "opsdash.prompt_id"
OPSDASH_PROMPT_VERSION: Final = "opsdash.prompt_version"
OPSDASH_CONVERSATION_ID: Final = "opsdash.conversation_id"
OPSDASH_USER: Final = "opsdash.user"
OPSDASH_CACHE_HIT: Final = "opsdash.cache_hit"

# --- Which names feed which event field, best first -----------------------------------------
MODEL: Final = (GEN_AI_RESPONSE_MODEL, GEN_AI_REQUEST_MODEL, LLM_MODEL_NAME)
PROVIDER: Final = (GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM, LLM_PROVIDER)
INPUT_TOKENS: Final = (GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS, LLM_TOKEN_COUNT_PROMPT)
OUTPUT_TOKENS: Final = (GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_USAGE_COMPLETION_TOKENS, LLM_TOKEN_COUNT_COMPLETION)
COST: Final = (GEN_AI_USAGE_COST,)
TIME_TO_FIRST_TOKEN: Final = (GEN_AI_SERVER_TIME_TO_FIRST_TOKEN, GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
TENANT: Final = (OPSDASH_TENANT,)
ROUTE: Final = (OPSDASH_ROUTE,)
PROMPT_ID: Final = (OPSDASH_PROMPT_ID,)
PROMPT_VERSION: Final = (OPSDASH_PROMPT_VERSION,)
CONVERSATION_ID: Final = (OPSDASH_CONVERSATION_ID, GEN_AI_CONVERSATION_ID, SESSION_ID)
USER: Final = (OPSDASH_USER, USER_ID)
CACHE_HIT: Final = (OPSDASH_CACHE_HIT,)
