"""``njsl runs plot RUN_DIR``: plot a run's ``metrics.jsonl`` (loss, learning rate, norms) to a PNG.

    njsl runs plot runs/llama220m                    # -> runs/llama220m/metrics.png
    njsl runs plot runs/llama220m --output fig.png

Panels: train/validation loss, learning rate, gradient norm (global and per layer group), weight norm (global
and per layer), activation RMS per layer. Panels without data (e.g. norms not logged) say so.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from njsl.atomic import atomic_path
from njsl.cli import guarded
from pretraining.train.metrics import read_metrics


class RunsError(ValueError):
    """The run directory or its metrics cannot be plotted; the message names the path."""


def load_records(run_dir: Path) -> list[dict]:
    """The records of ``run_dir/metrics.jsonl``; a line cut by a killed run is skipped."""
    path = run_dir / "metrics.jsonl"
    if not run_dir.is_dir():
        raise RunsError(f"{run_dir}: not a run directory")
    if not path.is_file():
        raise RunsError(f"{path}: no metrics log (the run has not logged a step yet)")
    records = [rec for rec in read_metrics(path, kind=None) if "step" in rec]
    if not records:
        raise RunsError(f"{path}: no records to plot")
    return records


def series(records: list[dict], kind: str, key: str) -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` in records of ``kind`` (missing/None values skipped)."""
    pts = [(r["step"], r[key]) for r in records if r.get("kind") == kind and r.get(key) is not None]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def _layer_keys(records: list[dict], prefix: str) -> list[str]:
    keys = {k for r in records if r.get("kind") == "norms" for k in r if k.startswith(prefix + "/layer_")}
    return sorted(keys, key=lambda k: int(re.sub(r"\D", "", k.rsplit("_", 1)[-1]) or 0))


def plot_run(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the PNG of ``run_dir``'s metrics (atomically); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = load_records(run_dir)
    output = Path(output) if output else run_dir / "metrics.png"
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    ax = axes[0, 0]
    for kind, key, label in (("train", "loss", "train"), ("eval", "val_loss", "validation")):
        x, y = series(records, kind, key)
        if x:
            ax.plot(x, y, label=label, marker="o" if kind == "eval" else None, ms=3)
    ax.set(title="loss", xlabel="step")
    ax.legend()
    ax = axes[0, 1]
    ax.plot(*series(records, "train", "lr"))
    ax.set(title="learning rate", xlabel="step")

    def layered(ax, prefix, title, extra=()):
        drawn = False
        for kind, key, label in extra:
            x, y = series(records, kind, key)
            if x:
                ax.plot(x, y, color="black", lw=2, label=label)
                drawn = True
        keys = _layer_keys(records, prefix)
        cmap = plt.get_cmap("viridis")
        for i, key in enumerate(keys):
            x, y = series(records, "norms", key)
            ax.plot(x, y, color=cmap(i / max(len(keys) - 1, 1)), lw=1, label=key.split("/")[-1] if i in
                    (0, len(keys) - 1) else None)
            drawn = True
        ax.set(title=title, xlabel="step")
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged (training.norms_every)", ha="center", va="center",
                    transform=ax.transAxes)

    layered(axes[0, 2], "grad_norm", "gradient norm", [("train", "grad_norm", "global (train)")])
    layered(axes[1, 0], "weight_norm", "weight norm (per layer)", [("norms", "weight_norm/global", "global")])
    layered(axes[1, 1], "act_rms", "activation RMS (block outputs)")
    ax = axes[1, 2]
    groups = [k for k in ("embedding", "head", "other") if series(records, "norms", f"weight_norm/{k}")[0]]
    for g in groups:
        ax.plot(*series(records, "norms", f"weight_norm/{g}"), label=g)
    ax.set(title="weight norm (embedding, head, other)", xlabel="step")
    if groups:
        ax.legend(fontsize=7)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return output


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plot", help="plot loss, learning rate and norms of a run to a PNG")
    p.add_argument("run_dir", help="run directory (holds metrics.jsonl)")
    p.add_argument("--output", help="PNG path (default RUN_DIR/metrics.png)")
    args = ap.parse_args(argv)
    print(plot_run(args.run_dir, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
