"""Whole-corpus n-gram entropy: exact against a brute-force dict implementation, spill == in-memory, CLI paths."""
from __future__ import annotations

import collections
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from whole_corpus_measures import cli
from whole_corpus_measures.ngram_entropy import PERCENTILES, KeySpec, corpus_entropy
from whole_corpus_measures.quantiles import StreamingQuantiles

REPO = Path(__file__).resolve().parents[2]


def brute_force(docs: list[list[int]], n: int) -> dict:
    """The obvious implementation: a dict of contexts → Counter of next tokens, pooled over documents."""
    table: dict = collections.defaultdict(collections.Counter)
    for d in docs:
        for i in range(n, len(d)):
            table[tuple(d[i - n:i])][d[i]] += 1
    hs, events, weighted = [], 0, 0.0
    for counter in table.values():
        total = sum(counter.values())
        h = -sum(c / total * math.log2(c / total) for c in counter.values())
        hs.append(h)
        events += total
        weighted += total * h
    return {"contexts": len(table), "events": events, "cond": weighted / events, "mean": float(np.mean(hs)),
            "pct": [float(x) for x in np.percentile(hs, PERCENTILES)],
            "distinct": sum(len(c) for c in table.values())}


def batches(docs, size):
    for i in range(0, len(docs), size):
        part = docs[i:i + size]
        yield (np.array([t for d in part for t in d], dtype=np.int64), np.array([len(d) for d in part], dtype=np.int64))


def random_docs(seed, vocab, n_docs=250, max_len=70):
    rng = np.random.default_rng(seed)
    # zipf-like ids: frequent tokens and contexts, as in text; empty and 1-token documents included
    return [list((rng.zipf(1.3, rng.integers(0, max_len)) - 1) % vocab) for _ in range(n_docs)]


@pytest.mark.parametrize("vocab", [3, 300, 70_000])  # 70k: 17-bit ids, 5-token keys need two 64-bit words
def test_exact_against_brute_force(vocab):
    docs = random_docs(vocab, vocab)
    res = corpus_entropy(batches(docs, 37), [0, 1, 2, 3, 4], vocab)
    for o in res.orders:
        b = brute_force(docs, o["n"])
        assert o["contexts"] == b["contexts"] and o["events"] == b["events"] and o["distinct_ngrams"] == b["distinct"]
        assert o["conditional_entropy_bits"] == pytest.approx(b["cond"], rel=1e-12, abs=1e-12)
        assert o["mean_context_entropy_bits"] == pytest.approx(b["mean"], rel=1e-12, abs=1e-12)
        assert list(o["percentiles_context_entropy_bits"].values()) == pytest.approx(b["pct"], rel=1e-12, abs=1e-12)
    assert res.documents == len(docs) and res.tokens == sum(map(len, docs))
    assert res.empty_documents == sum(1 for d in docs if not d)


@pytest.mark.parametrize("vocab", [5, 70_000])
def test_spill_path_equals_in_memory(vocab):
    docs = random_docs(7, vocab, n_docs=400)
    mem = corpus_entropy(batches(docs, 400), [1, 2, 3], vocab)
    disk = corpus_entropy(batches(docs, 9), [1, 2, 3], vocab, max_memory_mb=0.01, merge_block=8,
                          max_context_entropies_in_memory=16)
    for a, b in zip(mem.orders, disk.orders, strict=False):
        assert a["spilled_runs"] == 0 and b["spilled_runs"] > 1
        assert b["context_entropies_spilled"] == (b["contexts"] > 16)
        if vocab == 5:  # tiny budget: more runs than one merge may read, so runs are merged on disk first
            assert b["merge_passes"] >= 1
        for key in ("events", "contexts", "distinct_ngrams", "median_context_entropy_bits"):
            assert a[key] == b[key]
        assert a["percentiles_context_entropy_bits"] == b["percentiles_context_entropy_bits"]  # bit for bit
        # sums are added in another order when spilling: equal up to float rounding
        assert a["conditional_entropy_bits"] == pytest.approx(b["conditional_entropy_bits"], rel=1e-12)
        assert a["mean_context_entropy_bits"] == pytest.approx(b["mean_context_entropy_bits"], rel=1e-12)


def test_streaming_quantiles_exact_when_spilled(tmp_path):
    rng = np.random.default_rng(0)
    q = StreamingQuantiles(tmp_path, max_in_memory=100, block=37)
    parts = [np.zeros(500), rng.random(700) * 4, np.full(300, 1.0), rng.random(3) * 1e-300]
    for p in parts:
        q.add(p)
    allv = np.concatenate(parts)
    qs = [0, 0.1, 5, 25, 50, 75, 95, 99.9, 100]
    assert q.spilled and q.percentiles(qs) == [float(x) for x in np.percentile(allv, qs)]


def test_key_packing_is_order_preserving():
    spec = KeySpec(n=4, bits=17)  # 85 bits: two words, a token straddling the word boundary
    rng = np.random.default_rng(3)
    windows = [rng.integers(0, 1 << 17, 500) for _ in range(5)]
    words = spec.pack(windows)
    as_int = [sum(int(w[i]) << (64 * k) for k, w in enumerate(words)) for i in range(500)]
    expect = [sum(int(windows[j][i]) << (17 * (4 - j)) for j in range(5)) for i in range(500)]
    assert as_int == expect
    assert spec.next_tokens(words).tolist() == windows[4].tolist()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, stdlib_dir) -> Path:
    folder = tmp_path_factory.mktemp("ent")
    path = folder / "docs.jsonl"
    files = sorted(p for p in stdlib_dir.glob("*.py") if 3_000 < p.stat().st_size < 12_000)[:25]
    with open(path, "w") as fh:
        for k, p in enumerate(files):
            fh.write(json.dumps({"text": p.read_text(errors="replace"), "id": f"d{k}"}) + "\n")
            if k == 3:
                fh.write(json.dumps({"text": ""}) + "\n")  # empty: counted as a document, never dropped
            if k == 5:
                fh.write('{"text": "broken\n')  # malformed line: reported and skipped
    return path


def test_cli_end_to_end_against_brute_force(corpus, tmp_path):
    out = tmp_path / "out.json"
    assert cli.main(["--input", str(corpus), "--output", str(out), "--ngram", "1", "2"]) == 0
    res = json.loads(out.read_text())
    assert res["documents"] == 26 and res["empty_documents"] == 1 and res["tokenizer"] == "njsl-default-bpe16k"
    assert [m["line"] for m in res["malformed_lines"]] == [8]
    from njsl.documents import iter_documents
    from tokenization.tokenizer import load_tokenizer

    tok = load_tokenizer(cli.default_tokenizer_dir())
    docs = tok.encode_batch([d.text for d in iter_documents(corpus, skip_empty=False)])
    assert res["tokens"] == sum(map(len, docs))
    for n in (1, 2):
        b, o = brute_force(docs, n), res["entropy"][str(n)]
        assert o["contexts"] == b["contexts"] and o["events"] == b["events"]
        assert o["conditional_entropy_bits"] == pytest.approx(b["cond"], rel=1e-12)
        assert o["mean_context_entropy_bits"] == pytest.approx(b["mean"], rel=1e-12)


def test_num_docs_and_spill_flag(corpus, tmp_path):
    full, few, spilled = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert cli.main(["--input", str(corpus), "--output", str(full)]) == 0
    assert cli.main(["--input", str(corpus), "--output", str(few), "--num_docs", "4"]) == 0
    assert cli.main(["--input", str(corpus), "--output", str(spilled), "--max_memory_mb", "0.05",
                     "--tmp_dir", str(tmp_path)]) == 0
    a, b, c = (json.loads(p.read_text()) for p in (full, few, spilled))
    assert b["documents"] == 4 and b["tokens"] < a["tokens"]
    assert c["entropy"]["1"]["spilled_runs"] > 0
    assert c["entropy"]["1"]["contexts"] == a["entropy"]["1"]["contexts"]
    assert c["entropy"]["1"]["conditional_entropy_bits"] == \
        pytest.approx(a["entropy"]["1"]["conditional_entropy_bits"], rel=1e-12)
    assert not list(tmp_path.glob("njsl-entropy-*"))  # spill folder removed


def test_resps_format_and_errors(tmp_path, capsys):
    src = tmp_path / "gens.jsonl"
    src.write_text("\n".join(json.dumps({"doc_id": i, "resps": [[f"answer {i} is {i * 7}"]]}) for i in range(5)))
    out = tmp_path / "o.json"
    assert cli.main(["--input", str(src), "--output", str(out), "--resps_format"]) == 0
    assert json.loads(out.read_text())["documents"] == 5
    assert cli.main(["--input", str(src), "--output", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "text column 'text'" in err and not (tmp_path / "x.json").exists()
    assert cli.main(["--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "x.json")]) == 2
    assert cli.main(["--input", str(src), "--output", str(tmp_path / "x.json"), "--num_docs", "0"]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{oops\n')
    assert cli.main(["--input", str(bad), "--output", str(tmp_path / "x.json"), "--strict"]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_pretokenized_megatron_input_matches_text_input(corpus, tmp_path):
    from pretraining.data.preprocess import preprocess

    res = preprocess(corpus, tmp_path / "bin", cli.default_tokenizer_dir(), progress=False)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["--input", str(corpus), "--output", str(a), "--ngram", "0", "2"]) == 0
    assert cli.main(["--input", str(res.prefix) + ".bin", "--output", str(b), "--ngram", "0", "2"]) == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert rb["pretokenized"] and rb["tokens"] == ra["tokens"]
    assert rb["entropy"] == ra["entropy"]
    # our direct .idx reader agrees with megatron-core's
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import _IndexReader
    dtype, lengths = cli.read_megatron_index(str(res.prefix) + ".idx")
    ref = _IndexReader(str(res.prefix) + ".idx", multimodal=False)
    assert dtype == ref.dtype and np.array_equal(lengths, ref.sequence_lengths)


def test_paper_script_path(corpus, tmp_path):
    out = tmp_path / "p.json"
    proc = subprocess.run([sys.executable, str(REPO / "whole_corpus_measures" / "entropy.py"), "--input", str(corpus),
                           "--output", str(out), "--text_column", "text", "--ngram", "1", "--num_docs", "3"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["documents"] == 3
