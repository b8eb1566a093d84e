"""Classify documents into domains: the LLM cascade (any OpenAI-compatible endpoint) or the local classifier.

Output: a CSV with the paper's columns ``text, language, prediction`` (so it is also training data for
``njsl domains train``) plus our ``id`` and ``decided_at`` (the cascade stage that answered yes, ``local``, or
``too_short``). As in the paper, the whole document goes to the model and a text under 50 characters is
``incoherent`` with language ``unknown`` without a call. The CSV is written atomically at the end; the answer
cache is what makes a killed run resumable.
"""
from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from data_tagging.language import DEFAULT_LANGUAGES, UNKNOWN, EnglishDetector
from njsl.atomic import atomic_open
from njsl.documents import Document

from .cache import AnswerCache, CachedAnswer, answer_key
from .llm_backend import ChatBackend, EndpointError, Usage
from .taxonomy import MIN_CHARS, PROMPT_VERSION, STAGES, build_messages, parse_choice, parse_yes_no

OUTPUT_COLUMNS = ("text", "language", "prediction", "id", "decided_at")
DEFAULT_MAX_CHARS: int | None = None  # the paper sends the whole document; a number caps cost on long ones
TOO_SHORT = "too_short"


@dataclass
class Classified:
    id: str
    language: str
    prediction: str
    decided_at: str
    text: str = ""


def too_short(text: str) -> bool:
    """The paper's rule: a text under :data:`MIN_CHARS` characters is not worth a call (``incoherent``)."""
    return not isinstance(text, str) or len(text) < MIN_CHARS


def short_row(doc: Document) -> Classified:
    return Classified(doc.id, UNKNOWN, "incoherent", TOO_SHORT, doc.text)


@dataclass
class CascadeRun:
    """The cascade over an endpoint: ``classify(docs)`` -> rows, with ``usage`` filled in."""
    backend: ChatBackend
    cache: AnswerCache
    concurrency: int = 8
    max_chars: int | None = DEFAULT_MAX_CHARS
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
        if self.max_chars is not None:
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
                assert stage.label is not None  # only the final choice stage has no label
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
                if too_short(doc.text):
                    results[i] = short_row(doc)
                    progress()
                    continue
                try:
                    label, stage = await self.classify_text(doc.text)
                except EndpointError as exc:
                    errors.append((doc.id, exc))
                    if len(errors) >= self.concurrency:
                        return  # the endpoint is down: stop early, the cache keeps what was done
                    continue
                results[i] = Classified(doc.id, detector.detect(doc.text).language, label, stage, doc.text)
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
    """Classify with the offline model of ``njsl domains train`` (no endpoint, no answer cache: it is cheap)."""
    from .local_model import LocalDomainClassifier

    model = LocalDomainClassifier.load(model_dir)
    detector = EnglishDetector(languages=languages)
    docs = list(docs)
    out: list[Classified] = []
    for start in tqdm(range(0, len(docs), batch_size), desc="classify", unit="batch", disable=None):
        batch = docs[start:start + batch_size]
        labels = iter(model.predict([d.text for d in batch if not too_short(d.text)]))
        for doc in batch:
            if too_short(doc.text):
                out.append(short_row(doc))
            else:
                out.append(Classified(doc.id, detector.detect(doc.text).language, next(labels), "local", doc.text))
    return out


def write_classified(rows: Iterable[Classified], output: str | Path) -> Path:
    """Write the CSV atomically (``text, language, prediction, id, decided_at``)."""
    output = Path(output)
    with atomic_open(output, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_COLUMNS)
        for r in rows:
            writer.writerow([r.text, r.language, r.prediction, r.id, r.decided_at])
    return output


def read_classified(path: str | Path) -> list[Classified]:
    """Read a classification CSV: ours, or the paper's (``text, language, prediction``; ids are row numbers)."""
    path = Path(path)
    csv.field_size_limit(1 << 30)  # whole documents sit in the text column
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"language", "prediction"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: not a domain classification CSV (missing columns {sorted(missing)}; "
                             f"it has {reader.fieldnames})")
        return [Classified(r.get("id") or str(k), r["language"], r["prediction"], r.get("decided_at", ""),
                           r.get("text", "")) for k, r in enumerate(reader, start=1)]


def read_csv_documents(path: str | Path, text_column: str = "text", id_column: str | None = None,
                       limit: int | None = None) -> list[Document]:
    """Documents of a CSV input (the paper's classifier also reads CSVs): text from ``text_column``, id from
    ``id_column``/``id``, else the row number (1-based). Empty cells are empty texts (``incoherent``)."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=limit)
    if text_column not in frame.columns:
        raise ValueError(f"{path}: no text column {text_column!r} (columns: {list(frame.columns)}); "
                         "pass --text_column NAME")
    key = id_column or ("id" if "id" in frame.columns else None)
    if key is not None and key not in frame.columns:
        raise ValueError(f"{path}: no id column {key!r} (columns: {list(frame.columns)})")
    ids = frame[key].tolist() if key else [str(i) for i in range(1, len(frame) + 1)]
    return [Document(str(i), t) for i, t in zip(ids, frame[text_column].tolist(), strict=True)]
