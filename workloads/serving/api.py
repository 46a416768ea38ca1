"""The OpenAI-compatible subset of `POST /v1/completions`: request validation and response bodies.

Errors are `{"error": {"message", "type", "param"}}` as OpenAI sends them. Fields that would change the
answer but are not implemented (stream, n, echo, logprobs, penalties, ...) are refused unless they hold
their neutral value, never ignored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from starlette.requests import Request
from starlette.responses import JSONResponse

from workloads.serving.generation import Generated, Sampling
from workloads.shared.tokenizer import encode

MAX_BODY_BYTES = 1 << 20
MAX_STOP_SEQUENCES = 4
MAX_TEMPERATURE = 2.0
DEFAULT_MAX_TOKENS = 16
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "stream": (None, False),
    "n": (None, 1),
    "best_of": (None, 1),
    "echo": (None, False),
    "logprobs": (None,),
    "suffix": (None, ""),
    "presence_penalty": (None, 0),
    "frequency_penalty": (None, 0),
    "logit_bias": (None, {}),
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        retry_after_s: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.retry_after_s = retry_after_s

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return error_response(self.status, self.message, type=self.type, param=self.param, headers=headers)


def error_response(
    status: int, message: str, *, type: str, param: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type, "param": param}}, status, headers=headers)


@dataclass(frozen=True)
class CompletionRequest:
    prompts: tuple[tuple[int, ...], ...]
    """Token ids of each prompt."""
    sampling: Sampling


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY_BYTES without reading the rest."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def parse_completion_request(body: bytes, *, model_name: str, max_seq_len: int, max_prompts: int) -> CompletionRequest:
    """Validate a request body; raise ApiError naming the first offending field."""
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, f"request body is not valid JSON: {err}") from None
    if not isinstance(fields, dict):
        raise ApiError(400, "request body must be a JSON object")
    for name, neutral in NEUTRAL_VALUES.items():
        if fields.get(name) not in neutral:
            raise ApiError(400, f"{name}={fields[name]!r} is not supported by this server", param=name)
    model = fields.get("model")
    if model is not None and model != model_name:
        raise ApiError(404, f"model {model!r} does not exist; this server serves {model_name!r}", param="model")
    prompts = _prompts(fields, max_prompts)
    longest = max(len(p) for p in prompts)
    if longest >= max_seq_len:
        raise ApiError(
            400,
            f"prompt is {longest} tokens; the model's context is {max_seq_len}, "
            "which must also hold at least one generated token",
            param="prompt",
        )
    max_tokens = _integer(fields, "max_tokens", DEFAULT_MAX_TOKENS)
    if not 1 <= max_tokens <= max_seq_len - longest:
        raise ApiError(
            400,
            f"max_tokens must be between 1 and {max_seq_len - longest}: the model's context is {max_seq_len} "
            f"tokens and the prompt takes {longest}",
            param="max_tokens",
        )
    temperature = _number(fields, "temperature", 1.0)
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise ApiError(400, f"temperature must be between 0 and {MAX_TEMPERATURE}", param="temperature")
    top_p = _number(fields, "top_p", 1.0)
    if not 0 < top_p <= 1:
        raise ApiError(400, "top_p must be greater than 0 and at most 1", param="top_p")
    sampling = Sampling(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=_stop(fields.get("stop")),
        seed=_integer(fields, "seed", None),
    )
    return CompletionRequest(prompts, sampling)


def completion_body(model_name: str, request: CompletionRequest, results: Sequence[Generated]) -> dict[str, Any]:
    prompt_tokens = sum(len(p) for p in request.prompts)
    completion_tokens = sum(len(r.token_ids) for r in results)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {"text": r.text, "index": i, "logprobs": None, "finish_reason": r.finish_reason}
            for i, r in enumerate(results)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _prompts(fields: dict[str, Any], max_prompts: int) -> tuple[tuple[int, ...], ...]:
    prompt = fields.get("prompt")
    if prompt is None:
        raise ApiError(400, "prompt is required", param="prompt")
    texts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "prompt must be a string or a non-empty list of strings", param="prompt")
    if len(texts) > max_prompts:
        raise ApiError(400, f"prompt holds {len(texts)} prompts; at most {max_prompts} per request", param="prompt")
    if not all(texts):
        raise ApiError(400, "prompt must not be empty", param="prompt")
    return tuple(tuple(encode(t)) for t in texts)


@overload
def _integer(fields: dict[str, Any], name: str, default: int) -> int: ...
@overload
def _integer(fields: dict[str, Any], name: str, default: int | None) -> int | None: ...
def _integer(fields: dict[str, Any], name: str, default: int | None) -> int | None:
    value = fields.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{name} must be an integer", param=name)
    return value


def _number(fields: dict[str, Any], name: str, default: float) -> float:
    value = fields.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{name} must be a number", param=name)
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    stops = [] if value is None else [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ApiError(
            400, f"stop must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} of them", param="stop"
        )
    return tuple(stops)
