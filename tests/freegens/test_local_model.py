"""The offline domain classifier: train, save, load, predict, cross-validate, and its error messages."""
from __future__ import annotations

import csv
import json
import random

import pytest

from freegens.domains_cli import classify_main, main
from freegens.local_model import LabelledDataError, LocalDomainClassifier, ModelDirError, cross_validate, \
    load_labelled

LANGS = ["--languages", "en,de,fr"]


@pytest.fixture(scope="module")
def trained(labelled_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("domain_model") / "model"
    assert main(["train", str(labelled_csv), "--output", str(out)]) == 0
    return out


def test_train_save_load_predict(trained):
    model = LocalDomainClassifier.load(trained)
    rng = random.Random(1)  # fresh noise, like the training noise (seed 0)
    assert set(model.meta["labels"]) == {"code", "reference", "incoherent"}
    preds = model.predict(["import sys\n\nclass Foo(object):\n    def bar(self, x):\n        return x + 1\n",
                           "Return the number of items in the container, raising an error when it is closed.",
                           "".join(rng.choice("qxzjvkw ") for _ in range(200))])
    assert preds == ["code", "reference", "incoherent"]
    assert model.predict([]) == []


TEXTS = {"a": "def f(x):\n    return x * 2\n\nimport os\nimport sys\n\nprint(f(2))\n",
         "b": "Return a new list of the values, sorted by key, and raise an error when it is empty.",
         "c": "Too short to judge."}


def test_classify_local_backend_cli(trained, tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in TEXTS.items()))
    out = tmp_path / "out.csv"
    assert classify_main(["--input", str(docs), "--output", str(out), "--backend", "local",
                          "--model_path", str(trained), *LANGS]) == 0
    with open(out, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[:3] == ["text", "language", "prediction"]  # the paper's columns first
        rows = list(reader)
    assert [(r["id"], r["prediction"], r["decided_at"]) for r in rows] == [
        ("a", "code", "local"), ("b", "reference", "local"), ("c", "incoherent", "too_short")]
    assert rows[1]["language"] == "en" and rows[2]["language"] == "unknown"  # under 50 characters: no model
    assert [r["text"] for r in rows] == list(TEXTS.values())
    assert "classified 3 document(s)" in capsys.readouterr().out
    # its own output is training data, and a CSV is accepted as input (the paper's classifier reads both)
    model2 = tmp_path / "m2"
    assert main(["train", str(out), "--output", str(model2)]) == 0
    out2 = tmp_path / "again.csv"
    assert classify_main(["--input", str(out), "--output", str(out2), "--backend", "local",
                          "--model_path", str(model2), *LANGS]) == 0
    with open(out2, newline="") as fh:
        again = list(csv.DictReader(fh))
    assert [r["id"] for r in again] == ["a", "b", "c"] and again[2]["prediction"] == "incoherent"
    assert classify_main(["--input", str(out), "--output", str(tmp_path / "x.csv"), "--backend", "local",
                          "--model_path", str(model2), "--text_column", "body", *LANGS]) == 2
    assert "no text column 'body'" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_cross_validation_report(labelled_csv, tmp_path, capsys):
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--output", str(report), "--json",
                 str(tmp_path / "cv.json")]) == 0
    text = report.read_text()
    assert "Stratified 3-fold cross-validation" in text and "| code |" in text and "Confusion matrix" in text
    result = json.loads((tmp_path / "cv.json").read_text())
    assert result["accuracy"] > 0.75  # majority baseline 0.4: code chunks hold docstrings too
    assert sum(map(sum, result["confusion"])) == result["n"]
    # the paper's protocol leaves incoherent out; the shares are those of the domain features (80 code, 80 reference)
    assert "paper's protocol" in text and "Domain shares" in text
    assert 0 < result["paper_protocol"]["kept"] <= 160 and result["paper_protocol"]["macro_f1"] > 0.75
    assert result["shares"]["labels"]["domain_code_pct_mean"] == 50.0
    shares = result["shares"]
    assert result["shares_gap"] == pytest.approx(sum(abs(shares["predicted"][k] - shares["labels"][k])
                                                     for k in shares["labels"] if k.startswith("domain_")) / 2)
    assert "Shares gap" in text


def test_cross_validation_lowers_folds_for_tiny_classes():
    import pandas as pd

    frame = pd.DataFrame({"text": ["def f(): pass"] * 2 + ["The weather is nice today in town."] * 6,
                          "label": ["code"] * 2 + ["web"] * 6})
    assert cross_validate(frame, folds=5)["folds"] == 2


def test_local_backend_without_model_path(tmp_path, capsys, sample_docs_jsonl):
    out = tmp_path / "out.csv"
    assert classify_main(["--input", str(sample_docs_jsonl), "--output", str(out), "--backend", "local"]) == 2
    assert "--backend local needs --model_path" in capsys.readouterr().err
    assert not out.exists()


def test_model_dir_that_is_not_a_model(tmp_path, sample_docs_jsonl, capsys):
    with pytest.raises(ModelDirError, match="not a trained domain classifier"):
        LocalDomainClassifier.load(tmp_path)
    out = tmp_path / "out.csv"
    assert classify_main(["--input", str(sample_docs_jsonl), "--output", str(out), "--backend", "local",
                          "--model_path", str(tmp_path), *LANGS]) == 2
    assert "njsl domains train" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("rows,msg", [
    ([["body", "prediction"], ["x", "web"]], "no column 'text'"),
    ([["text", "prediction"], ["x", "web"], ["y", "poetry"]], "labels outside the taxonomy: ['poetry']"),
    ([["text", "prediction"], ["x", "web"], ["y", "web"]], "at least two different labels"),
])
def test_bad_labelled_csv(tmp_path, capsys, rows, msg):
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with pytest.raises(LabelledDataError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        load_labelled(path)
    out = tmp_path / "model"
    assert main(["train", str(path), "--output", str(out)]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()


def test_missing_labelled_csv(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.csv"), "--output", str(tmp_path / "m")]) == 2
    assert "labelled CSV not found" in capsys.readouterr().err


@pytest.mark.slow
def test_train_on_the_paper_labels(shared, tmp_path):
    """The 1,000 fineweb documents with GPT-4o-mini labels train a model that predicts every common class."""
    from njsl.paths import domain_labels_csv

    frame = load_labelled(domain_labels_csv())
    assert len(frame) == 1000 and frame["label"].nunique() == 9
    model = LocalDomainClassifier.fit(frame.iloc[::2])
    preds = model.predict(frame["text"].iloc[1::2].tolist())
    assert len(preds) == 500 and {"web", "reference", "books"} <= set(preds)
    agreement = sum(p == t for p, t in zip(preds, frame["label"].iloc[1::2], strict=False)) / 500
    assert agreement > 0.6


def test_cv_cli_says_when_it_lowers_the_folds(tmp_path, capsys):
    import pandas as pd

    from freegens.domains_cli import main

    texts = [f"def f{i}(x): return x + {i}" for i in range(3)] + [f"The weather in town {i} is nice." for i in range(9)]
    csv = tmp_path / "labelled.csv"
    pd.DataFrame({"text": texts, "prediction": ["code"] * 3 + ["web"] * 9}).to_csv(csv, index=False)
    assert main(["cv", str(csv), "--folds", "10", "--output", str(tmp_path / "cv.md")]) == 0
    err = capsys.readouterr().err
    assert "--folds 10 lowered to 3: the smallest class ('code') has 3 documents" in err
    assert "Stratified 3-fold" in (tmp_path / "cv.md").read_text()


def test_document_statistics_are_computed_once_per_text(monkeypatch):
    """The statistics and cue counts are a pure function of the text; the CV folds, the offsets' inner folds and a
    ScoreAverage's members ask for the same documents again, and get the same rows without recomputing them."""
    import numpy as np

    import freegens.cues as cues
    from freegens.ridge_model import DocStats, RareClassCues

    texts = [f"def f{i}(x):\n    return x + {i}  # test_document_statistics {random.random()}" for i in range(3)]
    first = DocStats().transform(texts)
    direct = np.array([DocStats.features(t) for t in texts])
    np.testing.assert_array_equal(first, direct)
    calls = []
    real = cues.cue_features
    monkeypatch.setattr(cues, "cue_features", lambda t: calls.append(t) or real(t))
    np.testing.assert_array_equal(DocStats().transform(texts[::-1]), first[::-1])   # another instance, as clone gives
    assert calls == []
    DocStats().transform(["a text not seen before, test_document_statistics"])
    assert len(calls) == 1
    # each transformer keeps its own rows: the rare-class cues of the same texts are not DocStats'
    np.testing.assert_array_equal(RareClassCues().transform(texts), [RareClassCues.features(t) for t in texts])
