"""Session-6 options of the offline domain classifier: the learned stack (``--model stack``), the shrunk-centroid
rare-class rule (``--rare_rule centroid``) and token windows (``--encoder_windows``). The tiny random BERT of
conftest.py stands in for a sentence encoder (no downloads)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from freegens import encoder as E
from freegens import stack as S
from freegens.domains_cli import classify_main, main
from freegens.local_model import LocalDomainClassifier, cross_validate, load_labelled
from njsl.cli import main as njsl_main


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, float)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_knn_votes_and_shrunk_centroids_by_hand():
    train = unit([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.7, 0.7]])
    codes = np.array([0, 0, 1, 1, 2])
    test = unit([[1, 0.05], [0.6, 0.8]])
    votes = S.knn_votes(train, codes, test, 3, k=3)
    # first row: nearest are rows 0, 1 (class 0) and 4 (class 2); second: 4 (2), 3 (1), 2 (1)
    assert np.allclose(votes, [[2 / 3, 0, 1 / 3], [0, 2 / 3, 1 / 3]])
    sims = S.shrunk_centroid_similarity(train, codes, test, 3, shrink=2.0)
    mean = train.mean(axis=0)
    c2 = (train[4] + 2 * mean) / 3  # one document and two pseudo-documents at the mean
    assert sims[1, 2] == pytest.approx(test[1] @ (c2 / np.linalg.norm(c2)))
    # without shrinkage a class of one is that document; shrinkage pulls it towards the mean
    assert S.shrunk_centroid_similarity(train, codes, test, 3, shrink=0.0)[1, 2] == pytest.approx(test[1] @ train[4])


def test_tied_meta_gradient_and_weights():
    from scipy.optimize import check_grad

    rng = np.random.default_rng(0)
    n, nc = 300, 3
    codes = rng.integers(0, nc, n)
    informative = np.eye(nc)[codes] * 2 + rng.normal(size=(n, nc))
    noise = rng.normal(size=(n, nc))
    Z = np.hstack([informative, noise])
    meta = S.TiedMeta(nc, C=10.0, class_weight="none").fit(Z, codes)
    assert meta.coef_[0] > 5 * abs(meta.coef_[1])  # the informative block carries the weight
    assert (meta.decision_function(Z).argmax(axis=1) == codes).mean() > 0.7
    with pytest.raises(ValueError, match="whole blocks"):
        meta.decision_function(Z[:, :4])
    # the analytic gradient of the fitting loss matches a numerical one (captured from the optimiser's closure)
    import scipy.optimize

    captured = {}
    real = scipy.optimize.minimize

    def spy(fun, x0, **kw):
        captured["fun"] = fun
        return real(fun, x0, **kw)

    scipy.optimize.minimize = spy
    try:
        S.TiedMeta(nc, C=1.0, class_weight="balanced").fit(Z, codes)
    finally:
        scipy.optimize.minimize = real
    fun = captured["fun"]
    x = rng.normal(size=2 + nc)
    assert check_grad(lambda t: fun(t)[0], lambda t: fun(t)[1], x) < 1e-5


def test_meta_class_weights():
    codes = np.array([0] * 8 + [1] * 2)
    assert S.meta_class_weight(codes, "balanced") == {0: pytest.approx(10 / 16), 1: pytest.approx(10 / 4)}
    assert S.meta_class_weight(codes, "sqrt")[1] == pytest.approx(np.sqrt(10 / 4))
    assert S.meta_class_weight(codes, "none") is None
    with pytest.raises(ValueError, match="class_weight"):
        S.meta_class_weight(codes, "double")


def test_out_of_fold_base_features_never_see_their_document(tiny_bert, labelled_csv, monkeypatch):
    frame = load_labelled(labelled_csv)
    X, y = list(frame["text"]), np.asarray(frame["label"], dtype=object)
    model = S.StackedDomainModel(E.TextEncoder(str(tiny_bert), max_tokens=32), bases=("tfidf", "emb_lr", "knn", "sim"),
                                 meta="lr", C=0.1, inner_folds=3)
    seen: list[set] = []
    real = S.StackedDomainModel._fit_bases

    def spy(self, Xtr, codes, embs):
        seen.append(set(Xtr))
        return real(self, Xtr, codes, embs)

    monkeypatch.setattr(S.StackedDomainModel, "_fit_bases", spy)
    model.fit(X, y)
    assert len(seen) == 4  # three inner fits, then the final one on everything
    covered = set()
    for train in seen[:3]:
        held_out = set(X) - train
        covered |= held_out
        assert held_out and not held_out & train
    assert covered == set(X) and seen[3] == set(X)
    names = model.block_names_
    assert {"tfidf", "emb_lr0", "knn0", "sim0"} == set(names)
    assert names.count("knn0") == 3 and names.count("sim0") == sum(map(len, E.CATEGORY_DESCRIPTIONS.values()))
    pred = model.predict(X)
    assert (pred == y).mean() > 0.8  # the toy classes (code, prose, noise) are easy
    assert model.offsets is None


def test_stack_variants_and_errors(tiny_bert, labelled_csv):
    frame = load_labelled(labelled_csv)
    X, y = list(frame["text"]), np.asarray(frame["label"], dtype=object)
    enc = E.TextEncoder(str(tiny_bert), max_tokens=32)
    tied = S.StackedDomainModel(enc, bases=S.BASES, meta="tied", tune_offsets=True, inner_folds=2).fit(X, y)
    assert set(tied.block_names_) == {"tfidf", "emb_lr0", "knn0", "centroid0", "simk0", "ridge_enc", "nn_rare"}
    assert set(tied.offsets) == {"code", "incoherent", "reference"}
    assert tied.decision_function(X[:4]).shape == (4, 3)
    with pytest.raises(ValueError, match="need an encoder"):
        S.StackedDomainModel(None).fit(X, y)
    with pytest.raises(ValueError, match="meta must be"):
        S.StackedDomainModel(enc, meta="forest").fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        S.StackedDomainModel(enc, class_weight="inverse").fit(X, y)
    with pytest.raises(ValueError, match="bases must be"):
        S.StackedDomainModel(enc, bases=("tfidf", "bogus")).fit(X, y)
    sims = np.arange(2 * 27, dtype=float).reshape(2, 27)
    per_class = S.class_similarity(sims, ["academic", "unknown", "web"])
    starts = np.cumsum([0] + [len(g) for g in E.CATEGORY_DESCRIPTIONS.values()])
    web = list(E.CATEGORY_DESCRIPTIONS).index("web")
    assert per_class[0, 2] == sims[0, starts[web + 1] - 1] and per_class[0, 1] == -sims[0].max()


RARE_MEDIA = ["Episode 12 transcript: the host said the story was news", "Subtitles: she said the price is data",
              "Timestamps 00:01 the chapter of the study"]


def _with_rare_media(tiny_bert, labelled_csv):
    """The labelled fixture plus three 'media' documents (a class rare enough for the rules), and an encoder."""
    frame = load_labelled(labelled_csv)
    frame = pd.concat([frame, pd.DataFrame({"text": RARE_MEDIA, "label": "media"})], ignore_index=True)
    return frame, E.TextEncoder(str(tiny_bert), max_tokens=64)


def test_centroid_rule_assigns_rare_classes(tiny_bert, labelled_csv):
    frame, enc = _with_rare_media(tiny_bert, labelled_csv)
    model = LocalDomainClassifier.fit(frame, encoder=enc, rare_rule="centroid")
    assert model.meta["rare_rule"] == "centroid" and model.pipeline.rare_ == ["media"]
    clf = model.pipeline
    names, codes = np.unique(clf.train_labels_, return_inverse=True)
    sims = S.shrunk_centroid_similarity(clf.train_embeddings_, codes, enc.encode(list(frame["text"])), len(names), 5.0)
    expected = np.where(names[sims.argmax(axis=1)] == "media", "media", clf.pipeline.predict(list(frame["text"])))
    assert model.predict(list(frame["text"])) == list(expected)  # the rule, and the linear model elsewhere
    with pytest.raises(ValueError, match="rule must be"):
        LocalDomainClassifier.fit(frame, encoder=enc, rare_rule="farthest")


def test_nn_rare_block_is_the_neighbour_rule(tiny_bert, labelled_csv):
    frame, enc = _with_rare_media(tiny_bert, labelled_csv)
    rare = RARE_MEDIA
    model = S.StackedDomainModel(enc, bases=("ridge_enc", "nn_rare"), inner_folds=3, tune_offsets=True)
    model.fit(list(frame["text"]), np.asarray(frame["label"], dtype=object))
    common = list(frame["text"][:5])
    Z = model._base_features(model.bases_, rare + common, model._embeddings(rare + common), 4)
    block = Z[:, [i for i, n in enumerate(model.block_names_) if n == "nn_rare"]]
    media = list(model.classes_).index("media")
    assert (block[:3, media] == 1).all() and block.sum() == 3  # each rare text is its own nearest neighbour
    ridge = LocalDomainClassifier.fit(frame, encoder=enc).pipeline.pipeline  # the ridge model's own pipeline
    ridge_cols = [i for i, n in enumerate(model.block_names_) if n == "ridge_enc"]
    assert np.allclose(Z[3:, ridge_cols], ridge.decision_function(common))


def test_token_windows_by_hand(tiny_bert):
    text = "a b c d e f g h"
    offsets = [(2 * i, 2 * i + 1) for i in range(8)]
    assert E.token_windows(text, offsets, 8) == {"first": text, "middle": text, "last": text}
    assert E.token_windows(text, offsets, 3) == {"first": text, "middle": "c d e", "last": "f g h"}
    enc = E.WindowEncoder(E.TextEncoder(str(tiny_bert), max_tokens=16))
    long = " ".join(["the story"] * 20 + ["def return"] * 10 + ["buy price"] * 20)
    wins = enc.window_texts([long, "the data"])
    assert wins[1] == dict.fromkeys(E.WINDOWS, "the data")
    assert wins[0]["first"] == long and wins[0]["last"].endswith("buy price") and "story" not in wins[0]["last"]
    assert "return" in wins[0]["middle"]
    emb = enc.encode([long, "the data"])
    assert emb.shape == (2, 3 * 32) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    single = enc.encoder.encode([wins[0]["middle"]])[0]
    assert np.allclose(emb[0, 32:64] * np.sqrt(3), single, atol=1e-6)
    with pytest.raises(ValueError, match="windows"):
        E.WindowEncoder(enc.encoder, ("first", "centre"))


def test_cli_stack_windows_and_bad_windows(tiny_bert, labelled_csv, tmp_path, capsys):
    report = tmp_path / "cv.json"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--encoder", str(tiny_bert), "--encoder_max_tokens", "32",
                 "--model", "stack", "--objective", "macro_f1", "--json", str(report)]) == 0
    out_text = capsys.readouterr().out
    assert '"model": "stack"' in report.read_text() and "macro-F1" in out_text and "Model: stack" in out_text
    out = tmp_path / "m"
    assert main(["train", str(labelled_csv), "--output", str(out), "--encoder", str(tiny_bert),
                 "--encoder_max_tokens", "32", "--encoder_windows", "first,last", "--model", "stack"]) == 0
    frame = load_labelled(labelled_csv)
    loaded = LocalDomainClassifier.load(out)
    assert loaded.meta["model"] == "stack" and loaded.meta["encoder"]["spec"] == f"{tiny_bert}@first,last"
    docs = tmp_path / "docs.csv"
    frame.iloc[::20].to_csv(docs, index=False)
    classified = tmp_path / "out.csv"
    assert classify_main(["--input", str(docs), "--output", str(classified), "--backend", "local",
                          "--model_path", str(out), "--languages", "en,de"]) == 0
    got = pd.read_csv(classified)
    assert list(got["prediction"]) == loaded.predict(list(frame["text"][::20]))
    for bad, message in ((["--encoder", str(tiny_bert), "--encoder_windows", "first,centre"], "unknown window"),
                         (["--encoder_windows", "first"], "needs an encoder")):
        target = tmp_path / "bad"
        assert njsl_main(["domains", "train", str(labelled_csv), "--output", str(target), *bad]) == 2
        assert message in capsys.readouterr().err
        assert not target.exists()


def test_cross_validate_stack_without_encoder_uses_tfidf_only(labelled_csv):
    res = cross_validate(load_labelled(labelled_csv), folds=3, model="stack")
    assert res["model"] == "stack" and res["macro_f1"] > 0.8
