"""Preprocessing into Megatron .bin/.idx: exact contents, all input formats, reliability paths."""
from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from pretraining.data import preprocess_cli
from pretraining.data.preprocess import PreprocessError, default_output_name, preprocess, read_manifest
from tokenization.tokenizer import load_tokenizer
from njsl.documents import DocumentFormatError

REPO = Path(__file__).resolve().parents[2]


def read_indexed(prefix) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    ds = IndexedDataset(str(prefix))
    return [np.array(ds[i], copy=True) for i in range(len(ds))]  # copies: the mmap closes with ds


def expected_ids(tok_dir, texts, eod=True) -> list[list[int]]:
    tok = load_tokenizer(tok_dir)
    return [ids + ([tok.eod_id] if eod else []) for ids in tok.encode_batch(texts)]


def files_of(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_jsonl_end_to_end_exact(tmp_path, corpus_jsonl, corpus_texts, tok_dir):
    res = preprocess(corpus_jsonl, tmp_path / "out", str(tok_dir), progress=False)
    assert res.prefix == tmp_path / "out" / "corpus_text_document"
    docs = read_indexed(res.prefix)
    want = expected_ids(tok_dir, corpus_texts)
    assert [d.tolist() for d in docs] == want
    assert docs[0].dtype == np.uint16
    m = read_manifest(res.prefix)
    assert m == res.manifest
    assert m["documents"] == len(corpus_texts) and m["tokens"] == sum(map(len, want))
    assert m["dtype"] == "uint16" and m["tokenizer"]["vocab_size"] == 600 and m["tokenizer"]["eod_id"] == 0
    assert m["sources"][0]["sha256"] and m["source_bytes"] == corpus_jsonl.stat().st_size
    assert m["text_bytes"] == sum(len(t.encode()) for t in corpus_texts)
    # intermediate files are gone; no jsonl kept unless asked
    assert files_of(tmp_path / "out") == {"corpus_text_document.bin", "corpus_text_document.idx",
                                          "corpus_text_document.manifest.json"}


def test_input_formats_give_identical_output(tmp_path, corpus_jsonl, corpus_texts, tok_dir):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    table = pa.table({"text": corpus_texts})
    pq.write_table(table, tmp_path / "c.parquet")
    # Arrow IPC stream, as HF datasets writes
    with pa.OSFile(str(tmp_path / "c.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    datasets.Dataset.from_dict({"text": corpus_texts}).save_to_disk(str(tmp_path / "hf"))
    raw = corpus_jsonl.read_bytes()
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    ref = preprocess(corpus_jsonl, tmp_path / "ref", str(tok_dir), progress=False)
    ref_bin = ref.bin_path.read_bytes()
    for name in ("c.parquet", "c.arrow", "hf", "c.jsonl.gz", "c.jsonl.zst"):
        res = preprocess(tmp_path / name, tmp_path / "o", str(tok_dir), output_prefix=name.replace(".", "_"),
                         progress=False)
        assert res.bin_path.read_bytes() == ref_bin, name
        assert res.idx_path.read_bytes() == ref.idx_path.read_bytes(), name
        assert res.manifest["documents"] == len(corpus_texts)


def test_empty_documents_and_non_utf8_are_counted(tmp_path, tok_dir):
    src = tmp_path / "mixed.jsonl"
    with open(src, "wb") as fh:
        fh.write(b'{"text": "hello world"}\n')
        fh.write(b'{"text": ""}\n')
        fh.write(b'{"text": "   \\n\\t "}\n')
        fh.write(b'{"text": "caf\xe9 bytes \xff\xfe here"}\n')  # latin-1 bytes: not UTF-8
        fh.write(b'{"text": null}\n')
        fh.write(b'not json at all\n')
        fh.write(b'{"text": "last one"}\n')
    res = preprocess(src, tmp_path / "out", str(tok_dir), progress=False)
    m = res.manifest
    assert m["documents"] == 3
    assert m["skipped"] == {"empty_documents": 3, "malformed_lines": 1, "decode_replacements": 1}
    assert m["sources"][0]["malformed"][0].startswith("mixed.jsonl:6")
    docs = read_indexed(res.prefix)
    tok = load_tokenizer(tok_dir)
    assert docs[1].tolist() == tok.encode_batch(["caf\ufffd bytes \ufffd\ufffd here"])[0] + [0]


def test_missing_text_column_is_a_clear_error_and_writes_nothing(tmp_path, corpus_jsonl, tok_dir, capsys):
    out = tmp_path / "out"
    with pytest.raises(DocumentFormatError, match=r"no text column 'content'.*\['text'\].*--text_column"):
        preprocess(corpus_jsonl, out, str(tok_dir), text_column="content", progress=False)
    assert not any(n.endswith((".bin", ".idx", ".json")) for n in files_of(out))
    rc = preprocess_cli.main(["--input", str(corpus_jsonl), "--output_dir", str(out), "--tokenizer", str(tok_dir),
                              "--text_column", "content"])
    assert rc == 2 and "error:" in capsys.readouterr().err
    assert not any(n.endswith((".bin", ".idx")) for n in files_of(out))


def test_large_vocab_switches_to_int32(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(70_000)}
    vocab["<|endoftext|>"] = 70_000
    vocab["<unk>"] = 70_001
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(tmp_path / "big.json"))
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"text": "w1 w65535 w69999 w70"}) + "\n" + json.dumps({"text": "w66000"}) + "\n")
    res = preprocess(src, tmp_path / "out", str(tmp_path / "big.json"), progress=False)
    assert res.manifest["dtype"] == "int32" and res.manifest["tokenizer"]["vocab_size"] == 70_002
    docs = read_indexed(res.prefix)
    assert docs[0].dtype == np.int32
    assert [d.tolist() for d in docs] == [[1, 65535, 69999, 70, 70_000], [66000, 70_000]]


def test_limit_no_eod_keep_jsonl_and_workers(tmp_path, corpus_jsonl, corpus_texts, tok_dir):
    res = preprocess(corpus_jsonl, tmp_path / "a", str(tok_dir), limit=5, append_eod=False, keep_jsonl=True,
                     json_dir=tmp_path / "json", progress=False)
    assert [d.tolist() for d in read_indexed(res.prefix)] == expected_ids(tok_dir, corpus_texts[:5], eod=False)
    kept = [json.loads(x) for x in (tmp_path / "json" / "corpus_text_document.jsonl").read_text().splitlines()]
    assert [r["text"] for r in kept] == corpus_texts[:5] and [r["id"] for r in kept] == ["1", "2", "3", "4", "5"]
    one = preprocess(corpus_jsonl, tmp_path / "w1", str(tok_dir), workers=1, batch_docs=7, progress=False)
    two = preprocess(corpus_jsonl, tmp_path / "w2", str(tok_dir), workers=2, batch_docs=7, progress=False)
    assert one.bin_path.read_bytes() == two.bin_path.read_bytes()
    assert one.idx_path.read_bytes() == two.idx_path.read_bytes()


def test_cli_flags(tmp_path, corpus_jsonl, corpus_texts, tok_dir, capsys):
    argv = ["--input", str(corpus_jsonl), "--output_dir", str(tmp_path), "--tokenizer", str(tok_dir), "--limit", "2"]
    assert preprocess_cli.main(argv + ["--no_append_eod", "--output_prefix", "noeod"]) == 0
    assert [d.tolist() for d in read_indexed(tmp_path / "noeod")] == expected_ids(tok_dir, corpus_texts[:2], eod=False)
    assert preprocess_cli.main(argv + ["--append_eod", "--output_prefix", "eod"]) == 0
    assert [d.tolist() for d in read_indexed(tmp_path / "eod")] == expected_ids(tok_dir, corpus_texts[:2])
    assert "2 documents" in capsys.readouterr().out


def test_bad_options(tmp_path, corpus_jsonl, tok_dir):
    with pytest.raises(PreprocessError, match="workers"):
        preprocess(corpus_jsonl, tmp_path, str(tok_dir), workers=0)
    with pytest.raises(FileNotFoundError, match="nothere"):
        preprocess(tmp_path / "nothere.jsonl", tmp_path, str(tok_dir))
    assert default_output_name("x/web.jsonl.zst") == "web_text_document"
    assert default_output_name("x/hf_folder", "content") == "hf_folder_content_document"


@pytest.mark.slow
def test_demo_script_interface(tmp_path, corpus_jsonl, tok_dir):
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "demo_scripts" / "preprocess_data.sh"), str(corpus_jsonl),
                           str(tmp_path / "bin"), str(tmp_path / "json"), str(tok_dir), "1", "--limit", "3"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert read_manifest(tmp_path / "bin" / "corpus_text_document")["documents"] == 3
    usage = subprocess.run(["bash", str(REPO / "demo_scripts" / "preprocess_data.sh"), "only-one-arg"],
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "num cpu workers" in usage.stderr


@pytest.mark.slow
def test_kill_mid_run_then_rerun_equals_uninterrupted(tmp_path, stdlib_dir, tok_dir, jsonl_writer, capsys):
    """SIGKILL after the first shard is committed: no complete-looking output; the rerun resumes and is identical."""

    files = sorted(p for p in stdlib_dir.glob("*.py") if 20_000 < p.stat().st_size < 40_000)[:24]
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(6):
        jsonl_writer(shards / f"part{k}.jsonl", [p.read_text(errors="replace") for p in files[k::6]])
    out, work = tmp_path / "out", tmp_path / "out" / ".shards_text_document.work"
    cmd = [sys.executable, "-m", "pretraining.data.preprocess_cli", "--input", str(shards), "--output_dir", str(out),
           "--tokenizer", str(tok_dir), "--batch_docs", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (work / "shard-00000.json").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    names = files_of(out)
    assert "shards_text_document.idx" not in names and "shards_text_document.manifest.json" not in names
    # the rerun and the reference run happen in-process (megatron-core's import alone takes seconds)
    assert preprocess_cli.main(cmd[3:]) == 0
    assert re.search(r"resumed [1-5] shard", capsys.readouterr().out)  # at least shard 0, never all six
    preprocess(shards, tmp_path / "clean", str(tok_dir), progress=False)
    for suffix in (".bin", ".idx"):
        a = (out / f"shards_text_document{suffix}").read_bytes()
        assert a == (tmp_path / "clean" / f"shards_text_document{suffix}").read_bytes()
    assert not work.exists()
    m = read_manifest(out / "shards_text_document")
    assert len(m["sources"]) == 6 and m["documents"] == len(files)


def test_crash_before_assembly_resumes_only_matching_shards(tmp_path, corpus_texts, tok_dir, jsonl_writer,
                                                            monkeypatch):
    """A crash after the shards are committed leaves no output; a rerun reuses shards only if settings match."""
    import pretraining.data.preprocess as pp
    from tokenization.tokenizer import train_tokenizer

    shards = tmp_path / "in"
    shards.mkdir()
    for k in range(3):
        jsonl_writer(shards / f"p{k}.jsonl", corpus_texts[k::3])

    def crash(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(pp, "_assemble", crash)
    with pytest.raises(OSError):
        preprocess(shards, tmp_path / "out", str(tok_dir), progress=False)
    monkeypatch.undo()
    assert not any(n.endswith((".bin", ".idx", ".manifest.json")) for n in files_of(tmp_path / "out"))
    # another tokenizer: nothing reused
    other = train_tokenizer([shards], tmp_path / "tok2", vocab_size=500)
    res = preprocess(shards, tmp_path / "out", str(other), progress=False)
    assert res.resumed_shards == 0
    # same settings after a crash: all three shards reused, output identical to a fresh run
    monkeypatch.setattr(pp, "_assemble", crash)
    with pytest.raises(OSError):
        preprocess(shards, tmp_path / "out2", str(tok_dir), progress=False)
    monkeypatch.undo()
    res = preprocess(shards, tmp_path / "out2", str(tok_dir), progress=False)
    fresh = preprocess(shards, tmp_path / "fresh", str(tok_dir), progress=False)
    assert res.resumed_shards == 3
    assert res.bin_path.read_bytes() == fresh.bin_path.read_bytes()
    assert res.idx_path.read_bytes() == fresh.idx_path.read_bytes()
