"""Ask an OpenAI-compatible chat endpoint (the hosted API, a local vLLM server...) with retries and usage counts.

The ``openai`` client's own retries are switched off (``max_retries=0``) so that every retry is counted here and
the backoff is one documented policy: exponential with full jitter, honouring ``Retry-After`` when the server
sends it, on 429, 5xx, timeouts and dropped connections. Other errors (401, 404, 400) are not retried: they
will not heal by waiting.
"""
from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

#: USD per million tokens (input, output) of hosted models; others need --price_input/--price_output.
PRICES_PER_M: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
}


class EndpointError(RuntimeError):
    """The endpoint failed in a way retrying cannot fix, or retries ran out."""

    exit_code = 1  # njsl.cli: an external service failed (the input may be fine)


@dataclass
class RetryPolicy:
    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 60.0   # seconds per request

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass
class Usage:
    """What the run cost: calls sent, answers from the cache, tokens, retries by reason."""
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    retries: Counter = field(default_factory=Counter)
    unparsed_replies: int = 0

    def cost(self, model: str, price_input: float | None = None, price_output: float | None = None) -> float | None:
        """Estimated USD for the tokens actually sent (cached answers are free); None without a known price."""
        known = PRICES_PER_M.get(model) or PRICES_PER_M.get(model.split("/")[-1])
        pin = price_input if price_input is not None else (known[0] if known else None)
        pout = price_output if price_output is not None else (known[1] if known else None)
        if pin is None or pout is None:
            return None
        return (self.prompt_tokens * pin + self.completion_tokens * pout) / 1e6

    def summary(self, model: str, price_input: float | None = None, price_output: float | None = None) -> str:
        cost = self.cost(model, price_input, price_output)
        cost_s = (f"${cost:.4f}" if cost is not None
                  else "unknown (no price for this model; pass --price_input/--price_output per 1M tokens)")
        retries = ", ".join(f"{k}: {v}" for k, v in sorted(self.retries.items())) or "none"
        return (f"requests sent: {self.calls}, answered from cache: {self.cached_calls}; "
                f"tokens sent: {self.prompt_tokens} prompt + {self.completion_tokens} completion "
                f"(cache saved {self.cached_prompt_tokens} + {self.cached_completion_tokens}); "
                f"estimated cost: {cost_s}; retries: {retries}; unparsed replies: {self.unparsed_replies}")


class ChatBackend:
    """One chat model behind an OpenAI-compatible endpoint; ``await ask(messages)`` -> (reply, usage)."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 retry: RetryPolicy | None = None, max_tokens: int = 8, temperature: float = 0.0):
        import openai  # imported here: the local backend and the rest of the package do not need it

        self.model = model
        self.retry = retry or RetryPolicy()
        self.max_tokens = max_tokens
        self.temperature = temperature
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key:
            if base_url is None:
                raise EndpointError("no API key: set OPENAI_API_KEY in the environment (or pass --base_url of a "
                                    "local server, which accepts any key)")
            key = "EMPTY"  # local OpenAI-compatible servers (vLLM) ignore the key but the client needs one
        self._openai = openai
        self._client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0,
                                          timeout=self.retry.timeout)
        self.usage = Usage()

    async def ask(self, messages: list[dict[str, str]]) -> tuple[str, int, int]:
        """The reply text and (prompt, completion) token counts; retries transient failures."""
        openai = self._openai
        attempt = 0
        while True:
            try:
                # our messages are plain role/content dicts; openai types them as per-role TypedDicts
                resp = await self._client.chat.completions.create(
                    model=self.model, messages=cast(Any, messages), max_tokens=self.max_tokens,
                    temperature=self.temperature)
            except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                    openai.InternalServerError) as exc:
                reason, retry_after = _retry_reason(exc)
                attempt += 1
                if attempt > self.retry.max_retries:
                    raise EndpointError(f"{reason} persisted after {self.retry.max_retries} retries "
                                        f"({type(exc).__name__}: {exc})") from exc
                self.usage.retries[reason] += 1
                await asyncio.sleep(self.retry.delay(attempt, retry_after))
                continue
            except openai.AuthenticationError as exc:
                raise EndpointError("the endpoint rejected the API key (HTTP 401): check OPENAI_API_KEY") from exc
            except openai.APIStatusError as exc:
                raise EndpointError(f"the endpoint answered HTTP {exc.status_code} (not retried): {exc}") from exc
            self.usage.calls += 1
            reply = resp.choices[0].message.content if resp.choices else ""
            pt = resp.usage.prompt_tokens if resp.usage else 0
            ct = resp.usage.completion_tokens if resp.usage else 0
            self.usage.prompt_tokens += pt
            self.usage.completion_tokens += ct
            return reply or "", pt, ct

    async def aclose(self) -> None:
        await self._client.close()


def _retry_reason(exc: Exception) -> tuple[str, float | None]:
    import openai

    retry_after = None
    response = getattr(exc, "response", None)
    if response is not None:
        value = response.headers.get("retry-after")
        try:
            retry_after = float(value) if value is not None else None
        except ValueError:
            retry_after = None
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", None
    if isinstance(exc, openai.RateLimitError):
        return "429", retry_after
    if isinstance(exc, openai.InternalServerError):
        return str(getattr(exc, "status_code", "5xx")), retry_after
    return "connection", None
