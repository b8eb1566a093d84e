"""Classify documents into domains: the LLM cascade (any OpenAI-compatible endpoint) or the local classifier.

Output: a CSV keyed by document id with ``id, language, prediction, decided_at`` (``prediction`` is the label,
named as in the paper's labelled file; ``decided_at`` is the cascade stage that answered yes, or ``local``).
The CSV is written atomically at the end; the answer cache is what makes a killed run resumable.
"""
from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from njsl.atomic import atomic_open
from data_tagging.language import DEFAULT_LANGUAGES, EnglishDetector
from njsl.documents import Document

from .cache import AnswerCache, CachedAnswer, answer_key
from .llm_backend import ChatBackend, EndpointError, Usage
from .taxonomy import PROMPT_VERSION, STAGES, build_messages, parse_choice, parse_yes_no

OUTPUT_COLUMNS = ("id", "language", "prediction", "decided_at")
DEFAULT_MAX_CHARS = 2000  # characters of each document sent to the model: bounds cost, enough to see the domain


@dataclass
class Classified:
    id: str
    language: str
    prediction: str
    decided_at: str


@dataclass
class CascadeRun:
    """The cascade over an endpoint: ``classify(docs)`` -> rows, with ``usage`` filled in."""
    backend: ChatBackend
    cache: AnswerCache
    concurrency: int = 8
    max_chars: int = DEFAULT_MAX_CHARS
    usage: Usage = field(init=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be >= 1, got {self.concurrency}")
        self.usage = self.backend.usage

    async def _ask(self, stage, text: str) -> str:
        key = answer_key(PROMPT_VERSION, self.backend.model, stage.name, text)
        hit = self.cache.get(key)
        if hit is not None:
            self.usage.cached_calls += 1
            self.usage.cached_prompt_tokens += hit.prompt_tokens
            self.usage.cached_completion_tokens += hit.completion_tokens
            return hit.reply
        reply, pt, ct = await self.backend.ask(build_messages(stage, text))
        self.cache.put(key, CachedAnswer(reply, pt, ct))  # committed now: a kill after this loses nothing
        return reply

    async def classify_text(self, text: str) -> tuple[str, str]:
        """(label, stage that decided) for one document: one call per stage, stop at the first yes."""
        text = text[: self.max_chars]
        for stage in STAGES:
            reply = await self._ask(stage, text)
            if stage.is_choice:
                label = parse_choice(reply, stage.choices)
                if label is None:
                    self.usage.unparsed_replies += 1
                    label = "unknown"
                return label, stage.name
            answer = parse_yes_no(reply)
            if answer is None:
                self.usage.unparsed_replies += 1  # counted, and read as "no" so the cascade goes on
            if answer:
                return stage.label, stage.name
        raise AssertionError("the cascade ends with a choice stage")

    async def _run(self, docs: Sequence[Document], languages, progress: Callable[[], None]) -> list[Classified]:
        detector = EnglishDetector(languages=languages)
        results: list[Classified | None] = [None] * len(docs)
        errors: list[tuple[str, Exception]] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(docs)):
            queue.put_nowait(i)

        async def worker() -> None:
            # One worker = one request in flight, so ``concurrency`` bounds the requests to the endpoint.
            while not queue.empty():
                i = queue.get_nowait()
                doc = docs[i]
                try:
                    label, stage = await self.classify_text(doc.text)
                except EndpointError as exc:
                    errors.append((doc.id, exc))
                    if len(errors) >= self.concurrency:
                        return  # the endpoint is down: stop early, the cache keeps what was done
                    continue
                results[i] = Classified(doc.id, detector.detect(doc.text).language, label, stage)
                progress()

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, max(1, len(docs))))))
        finally:
            await self.backend.aclose()
        if errors:
            done = sum(r is not None for r in results)
            raise EndpointError(f"{len(errors)} document(s) failed (first: {errors[0][0]}: {errors[0][1]}); "
                                f"{done} of {len(docs)} were classified and are cached: rerun the same command "
                                "to resume")
        return [r for r in results if r is not None]

    def classify(self, docs: Iterable[Document], languages: tuple[str, ...] = DEFAULT_LANGUAGES,
                 show_progress: bool | None = None) -> list[Classified]:
        docs = list(docs)
        with tqdm(total=len(docs), desc="classify", unit="doc", disable=show_progress is False or None) as bar:
            return asyncio.run(self._run(docs, languages, lambda: bar.update(1)))


def classify_local(docs: Iterable[Document], model_dir: str | Path,
                   languages: tuple[str, ...] = DEFAULT_LANGUAGES, batch_size: int = 256) -> list[Classified]:
    """Classify with the offline TF-IDF model (no endpoint, no cache needed: it is cheap)."""
    from .local_model import LocalDomainClassifier

    model = LocalDomainClassifier.load(model_dir)
    detector = EnglishDetector(languages=languages)
    docs = list(docs)
    out: list[Classified] = []
    for start in tqdm(range(0, len(docs), batch_size), desc="classify", unit="batch", disable=None):
        batch = docs[start:start + batch_size]
        for doc, label in zip(batch, model.predict([d.text for d in batch]), strict=False):
            out.append(Classified(doc.id, detector.detect(doc.text).language, label, "local"))
    return out


def write_classified(rows: Iterable[Classified], output: str | Path) -> Path:
    """Write the CSV atomically (``id, language, prediction, decided_at``)."""
    output = Path(output)
    with atomic_open(output, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_COLUMNS)
        for r in rows:
            writer.writerow([r.id, r.language, r.prediction, r.decided_at])
    return output


def read_classified(path: str | Path) -> list[Classified]:
    """Read a CSV written by :func:`write_classified`."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(OUTPUT_COLUMNS[:3]) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: not a domain classification CSV (missing columns {sorted(missing)})")
        return [Classified(r["id"], r["language"], r["prediction"], r.get("decided_at", "")) for r in reader]
