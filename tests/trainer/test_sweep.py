"""Sweeps: a grid expands into validated runs with their own directories; --run trains them; Slurm array."""
from __future__ import annotations

import json

import pytest
import yaml

from pretraining.config import ConfigError
from pretraining.train.sweep import expand, main as sweep_main


def _grid(tmp_path, tiny_config, tiny_data, tiny_overrides, **extra):
    spec = {"name": "t", "base": str(tiny_config), "output_dir": str(tmp_path / "out"),
            "data": {"path": tiny_data["prefix"], "tokenizer": tiny_data["tokenizer"]},
            "set": {o.split("=", 1)[0]: yaml.safe_load(o.split("=", 1)[1]) for o in tiny_overrides}
            | {"training.max_steps": 2, "training.eval_every": 0, "model.vocab_size": 512},
            "variants": [{"model.num_layers": 1}, {"model.num_layers": 2, "model.dimension": 32}]}
    spec.update(extra)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_expand_grid_variants_and_budget(tmp_path, tiny_config, tiny_data, tiny_overrides):
    grid = _grid(tmp_path, tiny_config, tiny_data, tiny_overrides,
                 grid={"model.activation": ["swiglu", "geglu"]})
    meta, runs, notes = expand(grid)
    assert len(runs) == 4 and len({r.run_dir for r in runs}) == 4
    assert runs[1].changes == {"model.activation": "swiglu", "model.num_layers": 2, "model.dimension": 32}
    assert runs[1].name == "001_activation-swiglu_dimension32_num_layers2"
    budget = {"target": runs[0].params, "tolerance": 0.01}
    meta, kept, notes = expand(_grid(tmp_path, tiny_config, tiny_data, tiny_overrides, param_budget=budget))
    assert len(kept) == 1 and len(notes) == 1 and "off the budget" in notes[0]


def test_bad_grid_names_field(tmp_path, tiny_config, tiny_data, tiny_overrides):
    with pytest.raises(ConfigError, match="model.num_heads"):
        expand(_grid(tmp_path, tiny_config, tiny_data, tiny_overrides, grid={"model.num_heads": [3]}))
    with pytest.raises(ConfigError, match="positional_embeddings=none"):
        expand(_grid(tmp_path, tiny_config, tiny_data, tiny_overrides, grid={"model.positional_embeddings": ["none"]}))
    with pytest.raises(ConfigError, match="gridd"):
        expand(_grid(tmp_path, tiny_config, tiny_data, tiny_overrides, gridd={}))


def test_sweep_runs_and_slurm_array(tmp_path, tiny_config, tiny_data, tiny_overrides, capsys):
    grid = _grid(tmp_path, tiny_config, tiny_data, tiny_overrides)
    assert sweep_main([str(grid), "--slurm"]) == 0
    sbatch = (tmp_path / "out" / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0-1" in sbatch and "--only" in sbatch and str(grid) in sbatch
    assert sweep_main([str(grid), "--run"]) == 0
    for run in expand(grid)[1]:
        info = json.loads((run.run_dir / "run_info.json").read_text())
        assert info["finished"] and info["steps_done"] == 2
    capsys.readouterr()
    assert sweep_main([str(grid), "--only", "1"]) == 0  # finished: skipped, not retrained
    assert "skipped" in capsys.readouterr().err
    assert sweep_main([str(grid), "--only", "5"]) == 2
