"""gsm8k: the compute-form law's fitted ceiling A + s(1 - A) against f_scale and max_slope (issue 12).

    python benchmarks/gsm8k_ceiling.py [--task gsm8k] [--db_path ...]

Fits ``LawRegressor(form="compute")`` on all models and on the bottom 80 % by compute (the training side of
the extrapolation split) and prints the ceiling, the fitted slope and, for the max_slope rows, the MAE on the
top 20 %.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    import numpy as np

    from njsl.paths import shared_dir
    from performance_prediction.data import load_data
    from performance_prediction.laws import LawRegressor
    from performance_prediction.validation import log_compute

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="gsm8k")
    p.add_argument("--db_path", default=str(shared_dir() / "data" / "paper_db_2025_03_03"))
    args = p.parse_args(argv)
    data = load_data(args.db_path, metric="accuracy", merge_mmlu=True)
    X, y = data.task_frame(args.task)
    lc, y = np.asarray(log_compute(X)), np.asarray(y, float)
    low = lc <= np.quantile(lc, 0.8)

    def fit(mask, **kw):
        est = LawRegressor(form="compute", task=args.task, intervals=False, **kw).fit(X[mask], y[mask])
        c = est.curve_
        return est, c.base + c.s * (c.upper - c.base), float(c.slopes[0])

    print(f"{args.task}: n {len(y)}; top 20 pct by compute: median {np.median(y[~low]):.3f}, max {y[~low].max():.3f}; "
          f"bottom 80 pct: 95th pct {np.quantile(y[low], .95):.3f}, max {y[low].max():.3f}")
    for fs in (0.01, 0.02, 0.05, 0.1, 1.0):
        rows = [f"{name}: ceiling {ceil:.3f} slope {sl:.2f}"
                for name, m in (("all", np.ones(len(y), bool)), ("bottom80", low))
                for _, ceil, sl in [fit(m, f_scale=fs)]]
        print(f"f_scale {fs}: " + "; ".join(rows))
    for ms in (2.0, 3.0, 5.0, 10.0):
        est, ceil, sl = fit(low, max_slope=ms)
        mae = np.mean(np.abs(est.predict(X[~low]) - y[~low]))
        print(f"max_slope {ms}: bottom80 ceiling {ceil:.3f} slope {sl:.2f}; MAE on the top 20 pct {mae:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
