"""The one Registry helper, and the four registries built on it (taggers, predictors, families, objectives)."""
from __future__ import annotations

import sys

import pytest

from njsl.registry import DuplicateName, Registry, RegistryError, did_you_mean


def test_duplicates_are_refused_names_and_aliases():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1, aliases=("alpha",))
    for name in ("a", "alpha"):
        with pytest.raises(DuplicateName, match=f"thing name '{name}' registered twice"):
            reg.add(name, 2)
    with pytest.raises(DuplicateName):
        reg.register_lazy("alpha", "json:dumps")
    assert reg["alpha"] == 1 and reg.names() == ["a"] and reg.aliases == {"alpha": "a"}


def test_unknown_name_has_did_you_mean_and_the_registry_error_class():
    class MyError(ValueError):
        pass

    reg: Registry[int] = Registry("predictor", where="--predictor: ", error=MyError)
    reg.add("xgb_all", 1)
    reg.add("median", 2)
    with pytest.raises(MyError, match=r"^--predictor: unknown predictor 'xgb_al' \(did you mean 'xgb_all'\?\); "
                                      r"known: median, xgb_all$"):
        reg.get("xgb_al")
    with pytest.raises(MyError, match="unknown predictor 'zzz'; known"):  # nothing close: no suggestion
        reg.get("zzz")
    assert "xgb_al" not in reg and "median" in reg
    assert did_you_mean("sed", ["seed", "grid"]) == " (did you mean 'seed'?)"


def test_lazy_entries_and_plugins_import_on_first_lookup(tmp_path, monkeypatch):
    (tmp_path / "njsl_test_plugin.py").write_text(
        "from tests.core.test_registry import PLUGGED\n"
        "PLUGGED.add('from_plugin', 42)\n"
        "VALUE = 'lazy value'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "njsl_test_plugin", raising=False)
    PLUGGED.register_lazy("lazy", "njsl_test_plugin:VALUE")
    try:
        assert "njsl_test_plugin" not in sys.modules  # registering imports nothing
        assert PLUGGED["lazy"] == "lazy value"
        assert PLUGGED["from_plugin"] == 42 and PLUGGED.names() == ["from_plugin", "lazy"]
        with pytest.raises(ValueError, match="module:attribute"):
            PLUGGED.register_lazy("bad", "no_colon")
    finally:
        PLUGGED.remove("lazy")
        PLUGGED.remove("from_plugin")


PLUGGED: Registry = Registry("plugged", plugins=("njsl_test_plugin",))


def test_pick_options_passes_shared_options_and_refuses_typos():
    reg: Registry[tuple[str, ...]] = Registry("tagger", error=RegistryError)
    reg.add("tokens", ("tokenizer", "device"))
    reg.add("length", ())
    accepted = lambda entry: entry  # noqa: E731
    assert reg.pick_options("tokens", {"tokenizer": "gpt2", "device": "cpu"}, accepted) == \
        {"tokenizer": "gpt2", "device": "cpu"}
    assert reg.pick_options("length", {"tokenizer": "gpt2"}, accepted) == {}  # another entry's option
    with pytest.raises(RegistryError, match=r"tagger 'tokens': unknown option 'tokeniser' "
                                            r"\(did you mean 'tokenizer'\?\); options of 'tokens': device, tokenizer"):
        reg.pick_options("tokens", {"tokeniser": "gpt2"}, accepted)


def test_predictors_refuse_a_mistyped_option():
    from performance_prediction.errors import PredictionInputError
    from performance_prediction.predictors import make_predictor, register

    assert make_predictor("median", seed=1, grid="fast").get_params() == {}  # shared options: fine
    assert make_predictor("xgb_all", seed=7).get_params()["seed"] == 7
    with pytest.raises(PredictionInputError, match=r"unknown option 'sed' \(did you mean 'seed'\?\)"):
        make_predictor("xgb_all", sed=7)
    with pytest.raises(PredictionInputError, match=r"unknown predictor 'xgb_alll' \(did you mean 'xgb_all'\?\)"):
        make_predictor("xgb_alll")
    with pytest.raises(DuplicateName):
        register("median", "again")(lambda **kw: None)


def test_taggers_refuse_a_mistyped_option():
    from data_tagging.registry import TaggingError, build_tagger, register, tagger_class

    assert build_tagger("char_len", {"tokenizer": None, "device": "cpu"}).name == "char_len"
    with pytest.raises(TaggingError, match=r"unknown option 'tokeniser' \(did you mean 'tokenizer'\?\)"):
        build_tagger("tokens", {"tokeniser": "whitespace"})
    with pytest.raises(DuplicateName):
        register(tagger_class("char_len"))


def test_families_and_objectives_share_the_behaviour():
    from pretraining.config import ConfigError
    from pretraining.models.objectives import get_objective, register_objective
    from pretraining.models.registry import FAMILIES, register_family

    assert {"transformer", "mamba", "hyena", "transformer+mlm"} <= set(FAMILIES)  # plugins loaded on lookup
    with pytest.raises(ConfigError, match=r"^model.family: unknown family 'mambo' \(did you mean 'mamba'\?\)"):
        FAMILIES.get("mambo")
    with pytest.raises(ConfigError, match=r"^model.objective: unknown objective 'mlmm' \(did you mean 'mlm'\?\)"):
        get_objective("mlmm")
    with pytest.raises(DuplicateName):
        register_family("mamba")(lambda cfg: None)
    with pytest.raises(DuplicateName):
        register_objective("clm")(lambda *a: None)
