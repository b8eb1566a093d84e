"""The zero-shot prior from the category definitions (freegens.prior) and the ridge with a prior mean in dual form."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from freegens.kernels import dual_ridge_scores, dual_ridge_target_scores
from freegens.prior import (
    definition_vectors,
    label_definitions,
    long_definitions,
    prior_directions,
    zero_shot_scores,
)
from freegens.taxonomy import LABELS


def _direct_prior_ridge(X, Y, w0, alpha, sw, X_test):
    """min_w,b sum_i sw_i |y_i - x_i w - b|^2 + alpha |w - w0|^2, from the normal equations (intercept free)."""
    n, p = X.shape
    Xa = np.hstack([X, np.ones((n, 1))])
    penalty = alpha * np.diag(np.r_[np.ones(p), 0.0])
    rhs = Xa.T @ (sw[:, None] * Y) + penalty @ np.vstack([w0, np.zeros((1, Y.shape[1]))])
    coef = np.linalg.solve(Xa.T @ (sw[:, None] * Xa) + penalty, rhs)
    return np.hstack([X_test, np.ones((len(X_test), 1))]) @ coef


def test_prior_mean_ridge_in_dual_form_equals_the_direct_solve():
    rng = np.random.default_rng(0)
    X, X_test = rng.normal(size=(40, 7)), rng.normal(size=(9, 7))
    codes = rng.integers(0, 3, size=40)
    Y = -np.ones((40, 3))
    Y[np.arange(40), codes] = 1.0
    w0 = 3.0 * rng.normal(size=(7, 3))
    sw = rng.uniform(0.5, 3.0, size=40)
    for alpha in (0.3, 20.0):
        dual = dual_ridge_target_scores(X @ X.T, X_test @ X.T, Y - X @ w0, alpha, sw) + X_test @ w0
        direct = _direct_prior_ridge(X, Y, w0, alpha, sw, X_test)
        assert np.allclose(dual, direct, atol=1e-9)
        # w0 = 0 is the plain ridge classifier
        plain = dual_ridge_scores(X @ X.T, X_test @ X.T, codes, 3, alpha, sw)
        assert np.allclose(_direct_prior_ridge(X, Y, 0 * w0, alpha, sw, X_test), plain, atol=1e-9)
    assert np.abs(dual - plain).max() > 0.5  # under a strong penalty the prior is what the scores follow


def test_definitions_restate_the_taxonomy():
    long = long_definitions()
    assert set(long) == set(LABELS) - {"unknown"}  # "none of these" defines nothing
    assert "textbooks" in long["reference"][0] and "court documents" in long["reference"][0]
    assert "patent" in long["academic"][0] and "student essays" in long["academic"][0]
    assert len(long["web"]) == 2 and "shopping" in long["web"][1]  # the web stage and the final choice's web line
    assert all(not t.startswith(("Is the", "Does the", "Which")) for v in long.values() for t in v)
    both = label_definitions("both")
    assert both["media"][0] == long["media"][0] and "subtitles or captions" in both["media"]
    with pytest.raises(ValueError, match="definitions must be one of"):
        label_definitions("medium")


def test_definition_vectors_mean_zero_shot_and_directions():
    basis = np.eye(4) / np.sqrt(2)  # rows of length 1/sqrt(2), like one part of a two-encoder embedding
    table = {"a": basis[0], "b": basis[1], "c": basis[2]}
    vecs, defined = definition_vectors(lambda texts: np.stack([table[t] for t in texts]),
                                       {"x": ("a", "b"), "y": ("c",)}, ["x", "y", "unknown"])
    assert defined.tolist() == [True, True, False]
    assert np.allclose(vecs[0], [0.5, 0.5, 0, 0]) and np.allclose(vecs[1], basis[2]) and not vecs[2].any()
    docs = np.array([[0.0, 0.0, 3.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    zs = zero_shot_scores([docs], [vecs], defined)
    assert zs.argmax(axis=1).tolist() == [1, 0]
    assert np.allclose(zs[:, 2], zs[:, :2].mean(axis=1))
    u = prior_directions(vecs, defined)
    assert np.allclose(np.linalg.norm(u[:2], axis=1), 1.0) and not u[2].any()
    assert np.allclose(u[0] + u[1], 0.0)  # centred over the defined labels


def test_label_spreading_follows_the_neighbour_graph():
    from freegens.kernels import label_spreading

    rng = np.random.default_rng(1)
    centres = np.eye(3)[:2] * 5.0
    pts = np.vstack([c + rng.normal(scale=0.3, size=(8, 3)) for c in centres])
    emb = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    labelled = np.array([0, 1, 2, 3, 4, 8])  # five of class 0, one of class 1
    f = label_spreading(emb, labelled, np.array([0, 0, 0, 0, 0, 1]), 2, k=3)
    assert f.shape == (16, 2)
    assert f[:8].argmax(axis=1).tolist() == [0] * 8 and f[8:].argmax(axis=1).tolist() == [1] * 8


def test_cli_zero_shot_and_encoder_weights(tiny_bert, labelled_csv, tmp_path, capsys):
    import json

    from freegens.domains_cli import main
    from freegens.local_model import LocalDomainClassifier
    from freegens.prior import ZeroShotBoost

    enc = ["--encoder", f"{tiny_bert}+{tiny_bert}", "--encoder_max_tokens", "32"]
    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), *enc, "--objective", "macro_f1",
                 "--encoder_weights", "1,0.5", "--zero_shot", "0.05", "--definitions", "long"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["encoder_weights"] == [1.0, 0.5] and meta["zero_shot"] == 0.05 and meta["definitions"] == "long"
    model = LocalDomainClassifier.load(out)
    boost = model.pipeline.estimator_.pipeline
    assert isinstance(boost, ZeroShotBoost) and boost.defined_.tolist() == [True, True, True]
    parts = boost.pipeline.named_steps["features"].transformer_list[-1][1].named_steps["parts"]
    assert parts.column_weights_.tolist() == [1.0] * 32 + [0.5] * 32
    texts = list(pd.read_csv(labelled_csv)["text"])
    added = boost.decision_function(texts) - boost.pipeline.decision_function(texts)
    assert np.allclose(added.mean(axis=0), 0.0, atol=1e-9)  # standardised on the training documents
    assert np.allclose(added.std(axis=0), 0.05)
    assert set(model.predict(texts[:5])) <= {"code", "reference", "incoherent"}
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", *enc, "--zero_shot", "0.05", "--output", str(report)]) == 0
    assert "(--zero_shot)" in report.read_text() and "'short'" in report.read_text()
    capsys.readouterr()
    for bad, flag in ((["--zero_shot", "0.05"], "--zero_shot"), ([*enc, "--zero_shot", "-1"], "--zero_shot"),
                      ([*enc, "--encoder_weights", "1"], "--encoder_weights"),
                      ([*enc, "--encoder_weights", "1,x"], "--encoder_weights"),
                      ([*enc, "--encoder_weights", "1,0"], "--encoder_weights"),
                      ([*enc, "--model", "stack", "--zero_shot", "0.05"], "--zero_shot"),
                      ([*enc, "--definitions", "long"], "--definitions")):   # without --zero_shot it would do nothing
        target = tmp_path / "bad"
        assert main(["train", str(labelled_csv), "--output", str(target), *bad]) == 2
        assert flag in capsys.readouterr().err and not target.exists()
