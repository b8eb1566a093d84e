"""Sweep grid files are typed: each bad field is named before any run is planned or written."""
from __future__ import annotations

from pathlib import Path

import pytest

from pretraining.config import ConfigError
from pretraining.train.sweep import expand, load_grid

BASE = Path(__file__).resolve().parents[2] / "pretraining" / "configs" / "models" / "tiny_cpu.yaml"


@pytest.mark.parametrize("body,field", [
    ("grid: {model.activation: swiglu}\n", "grid.model.activation"),
    ("grid: {model.activation: []}\n", "grid.model.activation: expected a non-empty list"),
    ("variants: {model.num_layers: 2}\n", "variants"),
    ("param_budget: {target: 1e6}\n", "param_budget.tolerance: missing required field"),
    ("param_budget: {target: -1, tolerance: 0.1}\n", "param_budget.target: expected a positive number"),
    ("mixes: mix.yaml\n", "mixes"),
    ("runs: 3\n", "runs: unknown sweep field"),
])
def test_bad_grid_names_the_field(tmp_path, body, field):
    grid = tmp_path / "g.yaml"
    grid.write_text(f"base: {BASE}\n" + body)
    with pytest.raises(ConfigError) as err:
        expand(grid)
    assert str(err.value).startswith(field), str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["g.yaml"]  # nothing planned, nothing written


def test_missing_base_and_defaults(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text("grid:\n")
    with pytest.raises(ConfigError, match="^base: missing required field"):
        load_grid(grid)
    grid.write_text(f"base: {BASE}\ngrid:\nparam_budget: {{target: '2e6', tolerance: '0.5'}}\n")
    spec = load_grid(grid)
    assert spec.grid == {} and spec.variants == [{}] and spec.mixes == [None]
    assert spec.param_budget.target == 2e6 and spec.param_budget.tolerance == 0.5
