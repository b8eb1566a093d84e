"""Size presets: ~20M/50M/100M non-embedding parameters per (family, mode); counts printed."""
from __future__ import annotations

import pytest

from pretraining.models.preset_counts import main, preset_counts
from pretraining.models.presets import NOMINAL, PRESETS, SIZES, PresetError, preset


@pytest.mark.parametrize("family,mode", sorted(PRESETS))
def test_presets_hit_their_nominal_size(family, mode):
    for size in SIZES:
        counts = preset_counts(family, mode, size, vocab_size=4105)
        assert abs(counts["non_embedding"] / NOMINAL[size] - 1) < 0.10, counts
        assert counts["total"] > counts["non_embedding"]


def test_preset_count_agrees_with_the_trainer_formula():
    """For the causal transformer the trainer has an analytic formula: the built preset matches it."""
    from pretraining.models.json_layout import model_config_from_layout
    from pretraining.models.counts import param_count

    cfg = model_config_from_layout({"model_type": "transformer", "mode": "clm",
                                    "model_config": {"preset": "50M"}}, vocab_size=4105)
    assert preset_counts("transformer", "clm", "50M", vocab_size=4105)["total"] == param_count(cfg)


def test_counts_are_printed(capsys):
    assert main(["--vocab-size", "73"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == len(PRESETS) * len(SIZES)
    assert "hyena" in out and "mamba" in out and "non-embedding" in out


def test_unknown_preset():
    with pytest.raises(PresetError, match="unknown size"):
        preset("mamba", "clm", "1B")
