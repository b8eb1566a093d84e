"""A model's pseudo features from its free generations: filter -> taggers -> domains -> aggregation -> store.

The features carry the names of the paper's ``generation_features`` CSV (``char_len_mean``,
``dep_parse_dep_head_dist_median_mean``, ``domain_code_pct_mean``, ``pct_english_mean``, ...), so the predictor
reads them from ``store.features_wide("model")`` beside the paper's. Every intermediate lands in a work folder
(filtered generations, per-document tags, domain labels, the filter report), and the domain step's answer
cache makes a rerun free.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence

from njsl.atomic import atomic_open, write_text_atomic
from njsl.documents import Document, ReadReport, iter_documents

from .filtering import FilterConfig, FilterReport, normalise_text, rejection_reason


class PipelineError(ValueError):
    """A bad request to the pseudo-feature pipeline (no generations left, missing tagging package...)."""


def filter_documents(docs: Iterable[Document], cfg: FilterConfig) -> tuple[list[Document], list[tuple[Document, str]],
                                                                           FilterReport]:
    """Normalise every document, then keep those that pass the checks: (kept, rejected with reason, report)."""
    cfg.validate()
    report = FilterReport()
    kept: list[Document] = []
    rejected: list[tuple[Document, str]] = []
    for doc in docs:
        text = normalise_text(doc.text)
        reason = rejection_reason(text, cfg)
        report.add(reason)
        clean = Document(doc.id, text, doc.meta)
        if reason is None:
            kept.append(clean)
        else:
            rejected.append((clean, reason))
    return kept, rejected, report


def write_generations(docs: Iterable[Document], path: str | Path, reasons: Sequence[str] | None = None) -> Path:
    """Write documents in lm-eval's ``--log_samples`` layout (``resps[0][0]``), atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for k, doc in enumerate(docs):
            rec = dict(doc.meta)
            rec.setdefault("doc_id", doc.id)
            rec.pop("filtered_resps", None)
            rec["resps"] = [[doc.text]]
            rec["filtered_resps"] = [doc.text]
            if reasons is not None:
                rec["filter_reason"] = reasons[k]
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    return Path(path)


def load_tagging_api():
    """``(tag_documents, aggregate_features)`` from the ``data_tagging`` package."""
    try:
        from data_tagging import aggregate_features, tag_documents
    except ImportError:
        try:  # the package may not re-export them at top level
            from data_tagging.aggregate import aggregate_features
            from data_tagging.runner import tag_documents
        except ImportError as exc:
            raise PipelineError(f"the taggers need the data_tagging package, which is not importable ({exc}); "
                                "pass --features none to compute only domain and language features") from exc
    return tag_documents, aggregate_features


@dataclass
class DomainOptions:
    backend: str = "local"                 # local | openai
    model_path: str | None = None          # local classifier folder
    model: str = "gpt-4o-mini"             # chat model at the endpoint
    base_url: str | None = None
    concurrency: int = 8
    max_retries: int = 6
    retry_base_delay: float = 1.0
    timeout: float = 60.0
    max_chars: int = 2000
    languages: tuple[str, ...] | None = None


@dataclass
class PseudoFeatureConfig:
    features: str = "all"                  # data_tagging feature set; "none" for domains/language only
    tagger_options: dict[str, Any] = field(default_factory=dict)
    n_process: int = 1
    filter: FilterConfig = field(default_factory=FilterConfig)
    domains: DomainOptions = field(default_factory=DomainOptions)
    resps_format: bool = True
    text_column: str = "text"


def classify_domains(docs: list[Document], opts: DomainOptions, output_csv: Path):
    """Label documents with the chosen backend, write the CSV, return (rows, usage summary or None)."""
    from . import classify as C
    from data_tagging.language import DEFAULT_LANGUAGES

    languages = opts.languages or DEFAULT_LANGUAGES
    if opts.backend == "local":
        if not opts.model_path:
            raise PipelineError("--domain_backend local needs --domain_model_path (njsl domains train ...)")
        rows = C.classify_local(docs, opts.model_path, languages)
        usage = None
    elif opts.backend == "openai":
        from .cache import AnswerCache
        from .llm_backend import ChatBackend, RetryPolicy

        retry = RetryPolicy(max_retries=opts.max_retries, base_delay=opts.retry_base_delay, timeout=opts.timeout)
        backend = ChatBackend(opts.model, base_url=opts.base_url, retry=retry)
        with AnswerCache(Path(str(output_csv) + ".cache.sqlite")) as cache:
            run = C.CascadeRun(backend, cache, concurrency=opts.concurrency, max_chars=opts.max_chars)
            rows = run.classify(docs, languages)
        usage = run.usage.summary(opts.model)
    else:
        raise PipelineError(f"--domain_backend must be 'local' or 'openai', got {opts.backend!r}")
    C.write_classified(rows, output_csv)
    return rows, usage


def compute_pseudo_features(generations: Sequence[str | Path], workdir: str | Path,
                            cfg: PseudoFeatureConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """All pseudo features of one model's generations; intermediates and a ``report.json`` go to ``workdir``."""
    from .features import domain_features, label_counts

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    read = ReadReport()
    docs: list[Document] = []
    for path in generations:
        docs += iter_documents(path, text_column=cfg.text_column, resps_format=cfg.resps_format, report=read,
                               skip_empty=False)
    kept, rejected, freport = filter_documents(docs, cfg.filter)
    write_generations(kept, workdir / "filtered.jsonl")
    write_generations([d for d, _ in rejected], workdir / "rejected.jsonl", [r for _, r in rejected])
    if not kept:
        raise PipelineError(f"no generation passed the filters ({freport.summary()}); see "
                            f"{workdir / 'rejected.jsonl'} and loosen the thresholds (--min_words ...)")

    features: dict[str, float] = {}
    if cfg.features and cfg.features != "none":
        tag_documents, aggregate_features = load_tagging_api()
        per_doc = tag_documents(kept, cfg.features, n_process=cfg.n_process, **cfg.tagger_options)
        per_doc.to_parquet(workdir / "tags.parquet")
        features.update(aggregate_features(per_doc))

    rows, usage = classify_domains(kept, cfg.domains, workdir / "domains.csv")
    features.update(domain_features([r.prediction for r in rows], [r.language for r in rows]))
    features = {k: v for k, v in features.items() if v == v}  # NaN = undefined (e.g. no content domain): omit
    report = {"documents_read": len(docs), "input": read.summary(), "filter": freport.as_dict(),
              "filter_summary": freport.summary(), "labels": label_counts(r.prediction for r in rows),
              "domain_backend": cfg.domains.backend, "domain_usage": usage, "features": features,
              "config": _jsonable(asdict(cfg))}
    write_text_atomic(workdir / "report.json", json.dumps(report, indent=2, default=str))
    return features, report


def store_pseudo_features(store_path: str | Path, entity_id: str, features: dict[str, float], source: str,
                          kind: str = "model") -> None:
    """Write the features of a model (or dataset) to the store (created when missing) in one transaction."""
    from model_metadata_db import AnalysisStore

    path = Path(store_path)
    store = AnalysisStore.from_existing(path) if path.exists() else AnalysisStore.create(path)
    with store:
        store.set_features(kind, entity_id, features, source=source)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))
