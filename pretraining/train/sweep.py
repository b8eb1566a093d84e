"""``njsl sweep GRID.yaml``: expand a grid over design decisions and data mixes into training runs.

A grid file (see ``pretraining/configs/sweeps/``)::

    name: depth_vs_width
    base: ../models/Llama2_220M.yaml      # run config every run starts from (relative to this file)
    output_dir: runs/depth_vs_width       # one sub-directory per run (relative to the working directory)
    data: {tokenizer: TOKENIZER, path: MIX}   # defaults for every run
    set: {training.train_tokens: 2.0e9}   # overrides for every run
    grid:                                  # cartesian product over these fields
      model.activation: [swiglu, geglu]
    variants:                              # alternatives crossed with the grid (several fields each)
      - {model.num_layers: 8,  model.dimension: 1280, model.num_heads: 10}
      - {model.num_layers: 12, model.dimension: 1024, model.num_heads: 8}
    mixes: [mixes/code_0.txt, mixes/code_20.txt]   # crossed too; each run's data.path
    param_budget: {target: 2.2e8, tolerance: 0.1}  # optional: drop runs off the budget (reported)

Modes: default lists the runs and writes their configs (``OUTPUT_DIR/configs/``, ``runs.tsv``);
``--run`` trains them one after another (finished runs are skipped, so a sweep resumes);
``--only I`` trains run I (what each Slurm array task does); ``--slurm`` writes ``sweep.sbatch``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from pretraining.config import ConfigError, apply_overrides
from pretraining.models.counts import format_params
from pretraining.models.run_config import run_config_from_dict

_KEYS = {"name", "base", "output_dir", "data", "set", "grid", "variants", "mixes", "param_budget"}


@dataclass
class PlannedRun:
    index: int
    name: str
    config: dict  # raw run config (validated)
    run_dir: Path
    params: int | None
    changes: dict


def _slug(changes: dict) -> str:
    parts = []
    for key, value in changes.items():
        short = key.split(".")[-1]
        if key == "data.path":
            value = Path(str(value)).stem
        parts.append(f"{short}{value}" if isinstance(value, (int, float)) else f"{short}-{value}")
    text = "_".join(parts) or "base"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def expand(grid_path: str | Path) -> tuple[dict, list[PlannedRun], list[str]]:
    """The runs a grid file describes (validated), and the notes about runs dropped by the budget."""
    from pretraining.models.counts import param_count

    grid_path = Path(grid_path)
    if not grid_path.is_file():
        raise FileNotFoundError(f"sweep grid {grid_path} not found")
    spec = yaml.safe_load(grid_path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{grid_path}: expected a mapping")
    for key in spec:
        if key not in _KEYS:
            raise ConfigError(f"{key}: unknown sweep field; use {sorted(_KEYS)}")
    if "base" not in spec:
        raise ConfigError("base: the sweep needs a base run config")
    base_path = (grid_path.parent / spec["base"]).resolve()
    if not base_path.is_file():
        raise FileNotFoundError(f"base: {base_path} not found")
    base = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    base.setdefault("data", {}).update(spec.get("data") or {})
    name = spec.get("name") or grid_path.stem
    # values are re-read as YAML: None must become null, not the string "None"
    common = [f"{k}={'null' if v is None and not k.startswith('data.') else v}"
              for k, v in (spec.get("set") or {}).items()]
    grid = spec.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}: expected a non-empty list of values")
    variants = spec.get("variants") or [{}]
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise ConfigError("variants: expected a list of mappings of field: value")
    mixes = spec.get("mixes") or [None]
    budget = spec.get("param_budget")
    if budget is not None and not (isinstance(budget, dict) and {"target", "tolerance"} <= set(budget)):
        raise ConfigError("param_budget: expected {target: N, tolerance: fraction}")
    out_dir = Path(spec.get("output_dir") or f"runs/{name}")
    runs, notes = [], []
    for values, variant, mix in itertools.product(itertools.product(*grid.values()) if grid else [()],
                                                  variants, mixes):
        changes = dict(zip(grid.keys(), values))
        changes.update(variant)
        if mix is not None:
            mix_path = Path(mix) if Path(mix).is_absolute() else (grid_path.parent / mix)
            changes["data.path"] = str(mix_path if mix_path.exists() else mix)
        overrides = common + [f"{k}={v if not isinstance(v, bool) else str(v).lower()}" for k, v in changes.items()]
        raw = apply_overrides(base, overrides)
        try:
            cfg = run_config_from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"sweep run {_slug(changes)}: {exc}") from None
        if cfg.model.family == "transformer":  # an unsupported combination fails now, not hours later
            from pretraining.models.registry import transformer_backend

            try:
                transformer_backend(cfg.model)
            except ConfigError as exc:
                raise ConfigError(f"sweep run {_slug(changes)}: {exc}") from None
        params = param_count(cfg.model) if cfg.model.vocab_size else None
        if budget and params is not None:
            target, tol = float(budget["target"]), float(budget["tolerance"])
            if abs(params - target) > tol * target:
                notes.append(f"dropped {_slug(changes)}: {format_params(params)} is off the budget "
                             f"{format_params(int(target))} +/- {tol:.0%}")
                continue
        index = len(runs)
        run_name = f"{index:03d}_{_slug(changes)}"
        raw["name"] = f"{name}/{run_name}"
        runs.append(PlannedRun(index, run_name, raw, out_dir / run_name, params, changes))
    if not runs:
        raise ConfigError("param_budget: no run of the grid is within the budget" if budget else "grid: no runs")
    return {"name": name, "output_dir": out_dir}, runs, notes


def write_plan(meta: dict, runs: list[PlannedRun]) -> Path:
    """Write each run's config and ``runs.tsv`` under the output directory; return the tsv path."""
    from njsl.atomic import write_text_atomic

    out = meta["output_dir"]
    for r in runs:
        write_text_atomic(out / "configs" / f"{r.name}.yaml", yaml.safe_dump(r.config, sort_keys=False))
    lines = ["index\tname\tconfig\trun_dir\tparams"] + [
        f"{r.index}\t{r.name}\t{out / 'configs' / (r.name + '.yaml')}\t{r.run_dir}\t{r.params or ''}" for r in runs]
    tsv = out / "runs.tsv"
    write_text_atomic(tsv, "\n".join(lines) + "\n")
    return tsv


def write_sbatch(meta: dict, runs: list[PlannedRun], grid_path: Path, template: Path | None = None) -> Path:
    """A Slurm array script: task I runs ``njsl sweep GRID --only I``."""
    from njsl.atomic import write_text_atomic

    template = template or Path(__file__).resolve().parents[1] / "slurm" / "sweep_array.sbatch"
    text = template.read_text(encoding="utf-8")
    text = (text.replace("{{NAME}}", str(meta["name"])).replace("{{ARRAY}}", f"0-{len(runs) - 1}")
            .replace("{{GRID}}", str(grid_path.resolve())).replace("{{LOG_DIR}}", str(meta["output_dir"] / "logs")))
    path = meta["output_dir"] / "sweep.sbatch"
    write_text_atomic(path, text)
    return path


def _train(run: PlannedRun, extra: list[str]) -> int:
    from pretraining.train.train_cli import main as train_main

    info = run.run_dir / "run_info.json"
    if info.is_file() and json.loads(info.read_text()).get("finished"):
        print(f"[{run.index}] {run.name}: finished already, skipped", file=sys.stderr)
        return 0
    config = run.run_dir.parent / "configs" / f"{run.name}.yaml"
    return train_main(["--config", str(config), "--output", str(run.run_dir), *extra])


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", help="sweep grid YAML (pretraining/configs/sweeps/)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--run", action="store_true", help="train every run, one after another")
    mode.add_argument("--only", type=int, metavar="I", help="train run I (a Slurm array task)")
    mode.add_argument("--slurm", action="store_true", help="write OUTPUT_DIR/sweep.sbatch (a Slurm array)")
    ap.add_argument("--sbatch_template", type=Path, help="template with {{NAME}} {{ARRAY}} {{GRID}} {{LOG_DIR}}")
    ap.add_argument("--nproc_per_node", default="1", help="passed to njsl train")
    args = ap.parse_args(argv)
    try:
        meta, runs, notes = expand(args.grid)
        tsv = write_plan(meta, runs)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(note, file=sys.stderr)
    if args.only is not None:
        if not 0 <= args.only < len(runs):
            print(f"error: --only {args.only}: the sweep has runs 0..{len(runs) - 1}", file=sys.stderr)
            return 2
        return _train(runs[args.only], ["--nproc_per_node", args.nproc_per_node, "--no_progress"])
    if args.run:
        failed = [r.name for r in runs if _train(r, ["--nproc_per_node", args.nproc_per_node]) != 0]
        if failed:
            print(f"error: {len(failed)} of {len(runs)} runs failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    for r in runs:
        print(f"{r.index:3d}  {r.name:60s} {format_params(r.params) if r.params else '?':>8s}  {r.run_dir}")
    print(f"{len(runs)} runs; configs and {tsv}", file=sys.stderr)
    if args.slurm:
        print(f"sbatch {write_sbatch(meta, runs, Path(args.grid), args.sbatch_template)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
