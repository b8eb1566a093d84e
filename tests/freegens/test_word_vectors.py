"""``--word_vectors``: static spaCy word vectors as a block of the offline domain classifier (issue 14, session 11).

A tiny spaCy model with hand-set vectors is written here, so no model package is needed; the measured
configuration (en_core_web_md) is in freegens/README.md.
"""
from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from freegens.domains_cli import main
from freegens.encoder import EncoderUnavailable
from freegens.local_model import LocalDomainClassifier, make_model
from freegens.word_vectors import MD_PIN, WordVectors, resolve_word_vectors

VECTORS = {"python": [1.0, 0.0, 0.0], "function": [0.0, 1.0, 0.0], "weather": [0.0, 0.0, 1.0],
           "rain": [0.0, 0.0, 3.0]}


@pytest.fixture(scope="module")
def vector_model(tmp_path_factory):
    """A blank English spaCy pipeline whose vocabulary holds four 3-dimensional vectors."""
    import spacy

    nlp = spacy.blank("en")
    for word, vec in VECTORS.items():
        nlp.vocab.set_vector(word, np.asarray(vec, dtype=np.float32))
    folder = tmp_path_factory.mktemp("spacy_vectors") / "model"
    nlp.to_disk(folder)
    return folder


def test_document_vector_is_the_mean_of_content_tokens(vector_model):
    wv = WordVectors(str(vector_model))
    assert wv.dim == 3
    out = wv.encode(["The python function!", "the rain and the weather", "of the and", ""])
    # stop words ("the", "and", "of") and punctuation left out; the mean, then unit length
    np.testing.assert_allclose(out[0], np.array([1.0, 1.0, 0.0]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 1.0], atol=1e-6)   # mean (0, 0, 2) -> unit
    np.testing.assert_array_equal(out[2], np.zeros(3))                # no token with a vector: zeros
    np.testing.assert_array_equal(out[3], np.zeros(3))
    assert out.dtype == np.float32 and wv.encode([]).shape == (0, 3)


def test_pmeans_pooling_is_mean_max_min_each_unit_length(vector_model):
    wv = WordVectors(str(vector_model), pooling="pmeans")
    assert wv.dim == 9
    out = wv.encode(["python rain", "the and"])
    # tokens (1, 0, 0) and (0, 0, 3): mean (.5, 0, 1.5), max (1, 0, 3), min (0, 0, 0) -> zeros kept as zeros
    mean, top = np.array([0.5, 0.0, 1.5]), np.array([1.0, 0.0, 3.0])
    np.testing.assert_allclose(out[0, :3], mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(out[0, 3:6], top / np.linalg.norm(top), atol=1e-6)
    np.testing.assert_array_equal(out[0, 6:], np.zeros(3))
    np.testing.assert_array_equal(out[1], np.zeros(9))
    back = pickle.loads(pickle.dumps(wv))
    assert back.pooling == "pmeans"
    np.testing.assert_array_equal(back.encode(["python rain"]), out[:1])
    with pytest.raises(ValueError, match="pooling 'max': one of mean, pmeans"):
        WordVectors(str(vector_model), pooling="max")


def test_frozen_cached_and_pickled_as_its_spec(vector_model, monkeypatch):
    wv = WordVectors(str(vector_model))
    first = wv.encode(["python weather"])
    assert copy.deepcopy(wv) is wv  # sklearn's clone per CV fold shares the loaded vectors and the cache
    monkeypatch.setattr(wv._nlp, "pipe", lambda *a, **k: pytest.fail("a cached text was looked up again"))
    np.testing.assert_array_equal(wv.encode(["python weather"]), first)
    back = pickle.loads(pickle.dumps(wv))
    assert back.spec == wv.spec and back._nlp is None and back._cache == {}
    np.testing.assert_array_equal(back.encode(["python weather"]), first)


def test_bad_specs_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(EncoderUnavailable, match="neither 'md' nor a spaCy model folder"):
        resolve_word_vectors(str(tmp_path))
    import spacy

    spacy.blank("en").to_disk(tmp_path / "novec")
    with pytest.raises(EncoderUnavailable, match="has no static word vectors"):
        _ = WordVectors(str(tmp_path / "novec")).dim
    import freegens.word_vectors as W

    monkeypatch.setattr(W.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EncoderUnavailable) as err:
        resolve_word_vectors("md")
    assert MD_PIN in str(err.value)


def test_pipeline_block_and_refusals(vector_model):
    wv = WordVectors(str(vector_model))
    model = make_model("ridge", word_vectors=wv, word_vectors_weight=2.0)
    blocks = dict(model.named_steps["features"].transformer_list)
    assert blocks["word_vectors"].named_steps["wv"].encoder is wv
    assert blocks["word_vectors"].named_steps["weight"].kw_args == {"weight": 0.02 * 2.0}
    with pytest.raises(ValueError, match="must be > 0"):
        make_model("ridge", word_vectors=wv, word_vectors_weight=0.0)
    with pytest.raises(ValueError, match="ridge only"):
        make_model("stack", word_vectors=wv)


def test_score_average_is_the_mean_of_its_members_scores(labelled_csv, vector_model):
    """--word_vectors_pooling mean+pmeans: one ridge model per pooling, the average of their decision scores."""
    from sklearn.base import clone

    from freegens.local_model import _labels, _prep, load_labelled
    from freegens.ridge_model import ScoreAverage

    frame = load_labelled(labelled_csv)
    X, y = _prep(frame["text"]), _labels(frame)
    pair = [WordVectors(str(vector_model)), WordVectors(str(vector_model), pooling="pmeans")]
    model = make_model("ridge", word_vectors=pair, word_vectors_weight=2.0)
    assert isinstance(model, ScoreAverage) and len(model.estimators) == 2
    for member, wv in zip(model.estimators, pair, strict=True):
        block = dict(member.named_steps["features"].transformer_list)["word_vectors"]
        assert block.named_steps["wv"].encoder is wv and block.named_steps["weight"].kw_args == {"weight": 0.04}
    model.fit(X, y)
    alone = [clone(make_model("ridge", word_vectors=wv, word_vectors_weight=2.0)).fit(X, y) for wv in pair]
    expected = (alone[0].decision_function(X) + alone[1].decision_function(X)) / 2
    np.testing.assert_allclose(model.decision_function(X), expected, rtol=1e-10, atol=1e-12)
    assert list(model.classes_) == list(alone[0].classes_)
    np.testing.assert_array_equal(model.predict(X), model.classes_[expected.argmax(axis=1)])
    two = frame[frame["label"] != "incoherent"]   # two classes: one score column, sklearn's sign rule
    binary = make_model("ridge", word_vectors=pair).fit(_prep(two["text"]), _labels(two))
    scores = binary.decision_function(X)
    assert scores.ndim == 1
    np.testing.assert_array_equal(binary.predict(X), binary.classes_[(scores > 0).astype(int)])
    with pytest.raises(ValueError, match="ridge only"):
        make_model("stack", word_vectors=pair)
    with pytest.raises(ValueError, match="at least one estimator"):
        ScoreAverage([]).fit(X, y)


@pytest.mark.parametrize("extra, weight, pooling", [
    (["--word_vectors_weight", "0.5"], 0.5, "mean"),
    (["--word_vectors_pooling", "mean+pmeans"], 1.0, "mean+pmeans"),
])
def test_cli_train_records_and_reloads(labelled_csv, vector_model, tmp_path, extra, weight, pooling):
    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), "--word_vectors", str(vector_model), *extra]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["word_vectors"] == {"spec": str(vector_model), "weight": weight, "pooling": pooling}
    model = LocalDomainClassifier.load(out)  # the vectors reload from the spec
    if pooling == "mean+pmeans":   # one fitted ridge pipeline per pooling
        assert [m.named_steps["features"].transformer_list[-1][1].named_steps["wv"].encoder.pooling
                for m in model.pipeline.estimators_] == ["mean", "pmeans"]
    code = "import sys\n\nclass Foo(object):\n    def bar(self, x):\n        return x + 1\n"
    assert model.predict([code]) == ["code"]


def test_cli_cv_reports_the_pooling(labelled_csv, vector_model, tmp_path):
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--output", str(report), "--word_vectors",
                 str(vector_model), "--word_vectors_pooling", "pmeans"]) == 0
    assert "--word_vectors --word_vectors_pooling pmeans" in report.read_text()
    bad = tmp_path / "bad.md"
    with pytest.raises(SystemExit) as err:   # argparse's choices: exit 2 before anything runs
        main(["cv", str(labelled_csv), "--output", str(bad), "--word_vectors", str(vector_model),
              "--word_vectors_pooling", "max"])
    assert err.value.code == 2 and not bad.exists()


@pytest.mark.parametrize("args, msg", [
    (["--word_vectors_weight", "2"], "--word_vectors_weight applies with --word_vectors"),
    (["--word_vectors_pooling", "mean+pmeans"], "--word_vectors_pooling applies with --word_vectors"),
    (["--word_vectors", "/no/such/folder"], "neither 'md' nor a spaCy model folder"),
    (["--word_vectors", "VEC", "--word_vectors_weight", "-1"], "--word_vectors_weight must be > 0"),
])
def test_cli_bad_word_vector_options(labelled_csv, vector_model, tmp_path, capsys, args, msg):
    args = [str(vector_model) if a == "VEC" else a for a in args]
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--output", str(report), *args]) == 2
    assert msg in capsys.readouterr().err and not report.exists()
