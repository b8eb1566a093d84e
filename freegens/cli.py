"""``njsl freegens``: free generations, their filtering, and a model's pseudo features in the store.

    njsl freegens generate --model PATH_OR_NAME --num_samples N --max_new_tokens T [--temperature 1.0]
                           [--top_p 1.0] [--seed 0] [--batch_size 8] [--prompts_file F] --output GEN.jsonl
    njsl freegens filter --input GEN.jsonl --output FILTERED.jsonl [--min_words 10 ...]
    njsl freegens features MODEL_ID --generations GEN.jsonl [...] --store STORE
                           [--domain_backend local --domain_model_path DIR | --domain_backend openai ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from njsl.cli import guarded
from njsl.documents import ReadReport, iter_documents

from .filtering import FilterConfig


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    d = FilterConfig()
    g = p.add_argument_group("filtering (a generation is dropped for the first check it fails)")
    g.add_argument("--min_words", type=int, default=d.min_words, help="too_short: fewer words than this")
    g.add_argument("--min_chars", type=int, default=d.min_chars, help="too_short: fewer characters than this")
    g.add_argument("--max_word_repeat", type=int, default=d.max_word_repeat,
                   help="word_repeat: one word repeated this many times in a row")
    g.add_argument("--max_dup_line_frac", type=float, default=d.max_dup_line_frac,
                   help="duplicate_lines: share of characters in repeated lines above this")
    g.add_argument("--max_dup_para_frac", type=float, default=d.max_dup_para_frac,
                   help="duplicate_paragraphs: share of characters in repeated paragraphs above this")
    g.add_argument("--ngram_n", type=int, default=d.ngram_n, help="ngram_repetition: word n-gram size")
    g.add_argument("--max_dup_ngram_frac", type=float, default=d.max_dup_ngram_frac,
                   help="ngram_repetition: share of characters in repeated n-grams above this")


def _filter_config(args: argparse.Namespace) -> FilterConfig:
    cfg = FilterConfig(min_words=args.min_words, min_chars=args.min_chars, max_word_repeat=args.max_word_repeat,
                       max_dup_line_frac=args.max_dup_line_frac, max_dup_para_frac=args.max_dup_para_frac,
                       ngram_n=args.ngram_n, max_dup_ngram_frac=args.max_dup_ngram_frac)
    cfg.validate()
    return cfg


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text_column", default=None,
                   help="read plain documents from this column instead of lm-eval's resps[0][0]")


def run_generate(args: argparse.Namespace) -> int:
    from .generate import GenerationConfig, generate_to_file, read_prompts

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = GenerationConfig(num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
                           temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed,
                           batch_size=args.batch_size)
    out = generate_to_file(args.model, args.output, cfg, prompts=read_prompts(args.prompts_file),
                           backend=args.backend, device=args.device, dtype=args.dtype)
    print(f"wrote {cfg.num_samples} generation(s) -> {out}")
    return 0


def run_filter(args: argparse.Namespace) -> int:
    from .pipeline import filter_documents, write_generations

    cfg = _filter_config(args)
    read = ReadReport()
    docs = iter_documents(args.input, text_column=args.text_column or "text",
                          resps_format=args.text_column is None, report=read, skip_empty=False, strict=args.strict)
    kept, rejected, report = filter_documents(docs, cfg)
    write_generations(kept, args.output)
    if args.rejected:
        write_generations([d for d, _ in rejected], args.rejected, [r for _, r in rejected])
    if read.summary() != "no problems":
        print(f"input: {read.summary()}", file=sys.stderr)
    print(f"{report.summary()} -> {args.output}")
    if args.report:
        from njsl.atomic import write_text_atomic

        write_text_atomic(args.report, json.dumps(report.as_dict(), indent=2))
    return 0


def run_features(args: argparse.Namespace) -> int:
    from data_tagging.language import parse_languages
    from .pipeline import DomainOptions, PseudoFeatureConfig, compute_pseudo_features, store_pseudo_features

    options = {}
    for item in args.tagger_option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--tagger_option must look like KEY=VALUE, got {item!r}")
        options[key] = value
    domains = DomainOptions(backend=args.domain_backend, model_path=args.domain_model_path, model=args.llm_model,
                            base_url=args.base_url, concurrency=args.concurrency, max_retries=args.max_retries,
                            retry_base_delay=args.retry_base_delay, timeout=args.timeout,
                            languages=parse_languages(args.languages))
    cfg = PseudoFeatureConfig(features=args.features, tagger_options=options, n_process=args.n_process,
                              filter=_filter_config(args), domains=domains,
                              resps_format=args.text_column is None, text_column=args.text_column or "text")
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in args.model_id)
    workdir = Path(args.workdir) if args.workdir else Path("pseudo_features") / safe_id
    features, report = compute_pseudo_features(args.generations, workdir, cfg)
    source = "freegens:" + ",".join(Path(g).name for g in args.generations)
    store_pseudo_features(args.store, args.model_id, features, source)
    print(f"{report['filter_summary']}; labels: {report['labels']}", file=sys.stderr)
    if report["domain_usage"]:
        print(report["domain_usage"], file=sys.stderr)
    print(f"wrote {len(features)} feature(s) of {args.model_id!r} to {args.store} (work folder {workdir})")
    return 0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="sample free generations (lm-eval --log_samples layout)")
    p.add_argument("--model", required=True, help="Hugging Face model folder or hub name")
    p.add_argument("--output", required=True, help="jsonl to write (resps[0][0] holds each generation)")
    p.add_argument("--num_samples", type=int, default=100)
    p.add_argument("--max_new_tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top_p", type=float, default=1.0)
    p.add_argument("--top_k", type=int, default=0, help="0 = off")
    p.add_argument("--seed", type=int, default=0, help="batch b is seeded with seed + b")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--prompts_file", default=None,
                   help="prompts (one per line, or jsonl with 'prompt'); default: unconditional from BOS")
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: bf16 on GPU, fp32 on CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    p = sub.add_parser("filter", help="normalise generations and drop degenerate ones")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True, help="kept generations (same layout)")
    p.add_argument("--rejected", default=None, help="also write dropped generations with their reason here")
    p.add_argument("--report", default=None, help="also write the counts as JSON here")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    _add_input_args(p)
    _add_filter_args(p)

    p = sub.add_parser("features", help="filter -> taggers -> domains -> aggregate -> store")
    p.add_argument("model_id", help="the model's id in the store")
    p.add_argument("--generations", nargs="+", required=True, help="generation files of this model")
    p.add_argument("--store", required=True, help="store (.duckdb file; created when missing)")
    p.add_argument("--workdir", default=None, help="intermediates (default ./pseudo_features/MODEL_ID)")
    p.add_argument("--features", default="all", help="data_tagging feature set ('all', 'char_len,ttr', 'none')")
    p.add_argument("--tagger_option", action="append", metavar="KEY=VALUE",
                   help="option for the taggers, e.g. tokenizer=PATH (repeatable)")
    p.add_argument("--n_process", type=int, default=1, help="tagging processes")
    p.add_argument("--domain_backend", choices=("local", "openai"), default="local")
    p.add_argument("--domain_model_path", default=None, help="local classifier folder (njsl domains train)")
    p.add_argument("--llm_model", default="gpt-4o-mini", help="chat model for --domain_backend openai")
    p.add_argument("--base_url", default=None, help="OpenAI-compatible endpoint (key from $OPENAI_API_KEY)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max_retries", type=int, default=6)
    p.add_argument("--retry_base_delay", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--languages", default=None, help="ISO 639-1 codes for language detection (default: 21)")
    _add_input_args(p)
    _add_filter_args(p)
    return parser


COMMANDS = {"generate": run_generate, "filter": run_filter, "features": run_features}


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """User errors exit 2, endpoint failures 1 (``EndpointError.exit_code``): see :func:`njsl.cli.guarded`."""
    args = build_parser(prog).parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
