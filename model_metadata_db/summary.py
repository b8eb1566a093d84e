"""``njsl summary``: import the paper's release (or open a store) and print what is in it.

Until the predictor lands this is the project's main job: models, benchmarks, coverage per benchmark and the
data-quality problems ``njsl db check`` finds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from .checks import check_store
from .errors import StoreError
from .store import AnalysisStore
from njsl.cli import guarded


def summarize(store: AnalysisStore, top: int = 15) -> str:
    """A plain-text summary of a store."""
    counts = store.counts()
    ann_ids = set(store.query("SELECT id FROM model_annotations")["id"])
    eval_ids = set(store.query("SELECT DISTINCT id FROM evaluation_results")["id"])
    info_ids = set(store.query("SELECT id FROM dataset_info")["id"])
    bench = store.benchmarks()
    cov = store.coverage()
    lines = [
        f"store: {store.location}",
        "",
        "models",
        f"  annotated (model_annotations)      {len(ann_ids):>6}",
        f"  with pretraining data (dataset_info){len(info_ids):>5}",
        f"  evaluated (evaluation_results)     {len(eval_ids):>6}   ({counts['evaluation_results']:,} scores)",
        f"  evaluated and annotated            {len(eval_ids & ann_ids):>6}",
        f"  evaluated, annotated, with data    {len(eval_ids & ann_ids & info_ids):>6}",
        "",
        f"benchmarks: {bench['benchmark'].nunique()} names, {len(bench)} (benchmark, setting, metric) series",
        f"  series with >= 30 annotated models: {(cov['n_with_annotation'] >= 30).sum()}",
        "",
        f"coverage, top {top} series by evaluated models:",
    ]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        lines += ["  " + line for line in cov.head(top).to_string(index=False).splitlines()]
    lines += ["", "data-quality findings (njsl db check for details):"]
    for f in check_store(store):
        if f.count or f.severity != "info":
            lines.append(f"  [{f.severity}] {f.code}: {f.message}")
    return "\n".join(lines)


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog or "njsl summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=None,
                        help="a .duckdb store or export folder (default: import the paper's release into memory)")
    parser.add_argument("--top", type=int, default=15, help="coverage rows to show (default 15)")
    args = parser.parse_args(argv)
    if args.db is None:
        from njsl.paths import paper_release_dir
        source = paper_release_dir()
        if not source.is_dir():
            raise StoreError(f"the paper's release is not at {source}; set NJSL_SHARED_DIR to the shared "
                             "data folder or pass --db")
    else:
        source = args.db
    with AnalysisStore.from_existing(source) as store:
        print(summarize(store, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
