"""Our per-document keyword and parse features against a plain re-statement of the paper's definitions.

    python benchmarks/bench_paper_features.py [--english 300] [--code 94]

Document set (fixed, built from what is on the machine): the first ``--english`` texts of the shared fineweb
domain labels (``$NJSL_SHARED_DIR/data/domain_labels/fineweb_sample_predicted_domains.csv``) and the first
``--code`` Python files of 1-20 KB of the interpreter's standard library (sorted paths, tests left out). Ours: the
``keyword_ratios`` and ``parse`` taggers (data-file word lists; reduced spaCy pipeline with numpy statistics).
Oracle: ``data_tagging.oracle`` (the paper's regexes written out; its parse loops over the full spaCy pipeline's
tokens). Prints, per feature the paper's CSV holds, Pearson r and the ratio of means, and whether both meet
the goal (r >= 0.99, ratio within 1.00 +- 0.02).
"""
from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYWORD_FEATURES = ["question_words_ratio", "imperative_verbs_ratio", "conjunctions_ratio",
                    "instructions_words_ratio", "numbers_ratio"]
PARSE_FEATURES = ["dep_parse_dep_head_dist_median", "dep_parse_dep_head_dist_90p", "dep_parse_dep_head_dist_max",
                  "dep_parse_dep_root_dist_median", "dep_parse_dep_root_dist_mean", "dep_parse_dep_root_dist_max",
                  "const_parse_num_sentences", "const_parse_num_words", "const_parse_words_per_sent_mean",
                  "const_parse_words_per_sent_std", "content_function_ratio"]


def document_set(n_english: int, n_code: int) -> tuple[list[str], list[str]]:
    """(English texts, code texts) as described in the module docstring."""
    import pandas as pd

    shared = Path(os.environ.get("NJSL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
    labels = pd.read_csv(shared / "data" / "domain_labels" / "fineweb_sample_predicted_domains.csv",
                         keep_default_na=False)
    english = [str(t) for t in labels["text"].head(n_english)]
    code = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        size = path.stat().st_size
        if 1_000 <= size <= 20_000:
            code.append(path.read_text(encoding="utf-8", errors="replace"))
            if len(code) >= n_code:
                break
    return english, code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--english", type=int, default=300)
    ap.add_argument("--code", type=int, default=94)
    ap.add_argument("--chunk_chars", type=int, default=None, help="the parse tagger's chunk size (default: its own)")
    args = ap.parse_args()
    import pandas as pd

    from njsl.documents import Document

    from data_tagging import tag_documents
    from data_tagging.language import import_spacy
    from data_tagging.oracle import compare_with_oracle, oracle_keyword_ratios, oracle_parse_features
    from data_tagging.parse import load_spacy

    print(f"load average before: {os.getloadavg()}")
    english, code = document_set(args.english, args.code)
    texts = english + code
    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    # The tagger's defaults parse documents up to 100,000 characters in one piece, as the oracle (and the
    # paper) do; --chunk_chars N shows what cutting longer documents into pieces changes.
    options = {"chunk_chars": args.chunk_chars} if args.chunk_chars else {}
    ours = tag_documents(docs, "keyword_ratios,parse", language_detector="stopwords", **options)
    t_ours = time.perf_counter() - t0
    nlp, _ = load_spacy()
    full = import_spacy().load(nlp.meta["lang"] + "_" + nlp.meta["name"], exclude=["ner", "lemmatizer"])
    t0 = time.perf_counter()
    oracle_rows = []
    for text, skip in zip(texts, ours["parse_skip_reason"], strict=True):
        row = oracle_keyword_ratios(text)
        if pd.isna(skip):  # the oracle parses what our tagger took as English (the paper: stanza's langid)
            row.update(oracle_parse_features(full(text)))
        oracle_rows.append(row)
    oracle = pd.DataFrame(oracle_rows).reindex(columns=KEYWORD_FEATURES + PARSE_FEATURES)
    t_oracle = time.perf_counter() - t0
    print(f"{len(english)} English + {len(code)} code documents ({sum(len(t) > 20_000 for t in texts)} over 20,000 "
          f"characters), chunk_chars {args.chunk_chars or 'default'}; ours {t_ours:.1f} s, oracle {t_oracle:.1f} s; "
          f"parsed as English: {int(ours['parse_skip_reason'].isna().sum())}")
    print("| feature | docs | Pearson r | mean ratio (ours/oracle) | max abs diff | goal met |")
    print("|---|---:|---:|---:|---:|---|")
    failed = 0
    for row in compare_with_oracle(ours, oracle, KEYWORD_FEATURES + PARSE_FEATURES):
        ok = row["r"] >= 0.99 and abs(row["mean_ratio"] - 1) <= 0.02
        failed += not ok
        print(f"| {row['feature']} | {row['n']} | {row['r']:.4f} | {row['mean_ratio']:.4f} | "
              f"{row['max_abs_diff']:.4g} | {'yes' if ok else 'NO'} |")
    print(f"load average after: {os.getloadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
