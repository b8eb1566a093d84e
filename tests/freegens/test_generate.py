"""Free generations from a tiny Llama built in the test (HF ``generate``), in lm-eval's layout."""
from __future__ import annotations

import json
import shutil

import pytest

from freegens.cli import main
from freegens.generate import GenerationConfig, _done_batches, generate_to_file

ARGS = ["--num_samples", "5", "--max_new_tokens", "12", "--batch_size", "2", "--seed", "3", "--threads", "1"]


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_unconditional_layout_and_determinism(tiny_model, tmp_path, capsys):
    out = tmp_path / "gens.jsonl"
    assert main(["generate", "--model", str(tiny_model), "--output", str(out), *ARGS]) == 0
    recs = _lines(out)
    assert [r["doc_id"] for r in recs] == [0, 1, 2, 3, 4]
    for r in recs:
        assert isinstance(r["resps"][0][0], str) and r["filtered_resps"] == [r["resps"][0][0]]
        assert r["doc"] == {"prompt": ""} and r["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] == 12
        assert 0 <= r["num_new_tokens"] <= 12
    assert sum(len(r["resps"][0][0]) for r in recs) > 0
    assert not (tmp_path / "gens.jsonl.partial").exists()
    again = tmp_path / "again.jsonl"
    assert main(["generate", "--model", str(tiny_model), "--output", str(again), *ARGS]) == 0
    assert again.read_text() == out.read_text()           # same seed, same text
    # the taggers' reader sees resps[0][0]
    from njsl.documents import iter_documents

    docs = list(iter_documents(out, resps_format=True, skip_empty=False))
    assert [d.id for d in docs] == ["0", "1", "2", "3", "4"]


def test_generate_with_prompts(tiny_model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("def main():\nThe history of\n")
    out = tmp_path / "gens.jsonl"
    assert main(["generate", "--model", str(tiny_model), "--output", str(out), "--prompts_file", str(prompts),
                 *ARGS]) == 0
    assert [r["doc"]["prompt"] for r in _lines(out)] == ["def main():", "The history of", "def main():",
                                                         "The history of", "def main():"]


def test_generate_resumes_after_kill(tiny_model, tmp_path):
    cfg = GenerationConfig(num_samples=5, max_new_tokens=12, batch_size=2, seed=3)
    full = generate_to_file(str(tiny_model), tmp_path / "full.jsonl", cfg)
    # a run killed after its first batch: the partial file holds batch 0 and a torn line
    out = tmp_path / "gens.jsonl"
    partial = tmp_path / "gens.jsonl.partial"
    first = json.loads(full.read_text().splitlines()[0])
    header = {"model": str(tiny_model), "config": cfg.__dict__, "prompts": None, "backend": "hf"}
    rec1 = json.loads(full.read_text().splitlines()[1])
    partial.write_text(json.dumps({"batch": 0, "header": header, "records": [first, rec1]}) + "\n{\"batch\": 1, ")
    assert set(_done_batches(partial)) == {0}
    generate_to_file(str(tiny_model), out, cfg)
    assert out.read_text() == full.read_text()
    assert not partial.exists()


def test_partial_from_other_options_is_refused(tiny_model, tmp_path, capsys):
    cfg = GenerationConfig(num_samples=2, max_new_tokens=4, batch_size=1)
    partial = tmp_path / "gens.jsonl.partial"
    partial.write_text(json.dumps({"batch": 0, "header": {"model": "other"}, "records": []}) + "\n")
    assert main(["generate", "--model", str(tiny_model), "--output", str(tmp_path / "gens.jsonl"),
                 "--num_samples", "2", "--max_new_tokens", "4", "--batch_size", "1"]) == 2
    assert "from a run with other options" in capsys.readouterr().err
    assert not (tmp_path / "gens.jsonl").exists()
    del cfg


@pytest.mark.parametrize("flag,value,msg", [("--temperature", "-1", "--temperature must be >= 0"),
                                            ("--top_p", "0", "--top_p must be in (0, 1]"),
                                            ("--num_samples", "0", "--num_samples must be >= 1")])
def test_bad_generation_flags(tiny_model, tmp_path, capsys, flag, value, msg):
    out = tmp_path / "gens.jsonl"
    assert main(["generate", "--model", str(tiny_model), "--output", str(out), flag, value]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()


def test_model_folder_without_tokenizer(tiny_model, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in tiny_model.iterdir():
        if f.name in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, bare / f.name)
    out = tmp_path / "gens.jsonl"
    assert main(["generate", "--model", str(bare), "--output", str(out), "--num_samples", "1"]) == 2
    assert "has no tokenizer" in capsys.readouterr().err
    assert not out.exists()


def test_vllm_backend_is_gated(tiny_model, tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed here; the gate is for machines without it")
    except ImportError:
        pass
    out = tmp_path / "gens.jsonl"
    assert main(["generate", "--model", str(tiny_model), "--output", str(out), "--backend", "vllm",
                 "--num_samples", "1"]) == 2
    assert "--backend vllm needs vLLM installed" in capsys.readouterr().err
    assert not out.exists()
