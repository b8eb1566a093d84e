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
from typing import Annotated, Any

import yaml

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pretraining.config import ConfigError, PositiveFloat, apply_overrides, error_message
from pretraining.models.counts import format_params
from pretraining.models.run_config import run_config_from_dict
from njsl.cli import guarded



class ParamBudget(BaseModel):
    """Keep only runs with ``|params - target| <= tolerance * target``."""

    model_config = ConfigDict(extra="forbid")

    target: PositiveFloat
    tolerance: Annotated[float, BeforeValidator(lambda v: float(v) if isinstance(v, str) else v),
                         Field(strict=True, ge=0, description="a fraction >= 0 (0.1 = 10 %)")]


def _one_empty_variant() -> list[dict[str, Any]]:
    return [{}]


def _no_mix() -> list[str | None]:
    return [None]


class SweepGrid(BaseModel):
    """A sweep grid file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    base: Annotated[str, Field(description="the path of the base run config, relative to the grid file")]
    output_dir: str | None = None
    data: Annotated[dict[str, Any], Field(description="a mapping of data fields")] = Field(default_factory=dict)
    set: Annotated[dict[str, Any], Field(description="a mapping of section.field: value overrides")] = \
        Field(default_factory=dict)
    grid: Annotated[dict[str, list[Any]], Field(description="a mapping of field: [values]")] = \
        Field(default_factory=dict)
    variants: Annotated[list[dict[str, Any]], Field(description="a list of mappings of field: value")] = \
        Field(default_factory=_one_empty_variant)
    mixes: Annotated[list[str | None], Field(description="a list of mix files")] = Field(default_factory=_no_mix)
    param_budget: ParamBudget | None = None

    @model_validator(mode="before")
    @classmethod
    def _none_is_default(cls, raw: Any) -> Any:
        # an empty YAML key (``grid:``) means the default, as before
        return {k: v for k, v in raw.items() if v is not None} if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _non_empty_grid(self) -> SweepGrid:
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key}: expected a non-empty list of values")
        if not self.variants:
            self.variants = [{}]
        return self


def load_grid(grid_path: Path) -> SweepGrid:
    """Read and validate a grid file; :class:`ConfigError` names the bad field."""
    if not grid_path.is_file():
        raise FileNotFoundError(f"sweep grid {grid_path} not found")
    try:
        raw = yaml.safe_load(grid_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{grid_path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{grid_path}: expected a mapping")
    try:
        return SweepGrid.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(error_message(SweepGrid, exc.errors()[0],
                                        unknown="unknown sweep field; use {known}")) from None


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
    spec = load_grid(grid_path)
    base_path = (grid_path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise FileNotFoundError(f"base: {base_path} not found")
    base = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    base.setdefault("data", {}).update(spec.data)
    name = spec.name or grid_path.stem
    # values are re-read as YAML: None must become null, not the string "None"
    common = [f"{k}={'null' if v is None and not k.startswith('data.') else v}" for k, v in spec.set.items()]
    grid, variants, mixes, budget = spec.grid, spec.variants, spec.mixes, spec.param_budget
    out_dir = Path(spec.output_dir or f"runs/{name}")
    runs: list[PlannedRun] = []
    notes: list[str] = []
    for values, variant, mix in itertools.product(itertools.product(*grid.values()) if grid else [()],
                                                  variants, mixes):
        changes = dict(zip(grid.keys(), values, strict=False))
        changes.update(variant)
        if mix is not None:
            mix_path = Path(mix) if Path(mix).is_absolute() else (grid_path.parent / mix)
            changes["data.path"] = str(mix_path if mix_path.exists() else mix)
        overrides = common + [f"{k}={v if not isinstance(v, bool) else str(v).lower()}" for k, v in changes.items()]
        raw = apply_overrides(base, overrides)
        try:  # also checks a backend implements it: an unsupported combination fails now, not hours later
            cfg = run_config_from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"sweep run {_slug(changes)}: {exc}") from None
        params = param_count(cfg.model) if cfg.model.vocab_size else None
        if budget and params is not None:
            target, tol = budget.target, budget.tolerance
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


@guarded
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
    meta, runs, notes = expand(args.grid)
    tsv = write_plan(meta, runs)
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
