"""Session-8 pieces of the offline domain classifier: the ridge model in dual (kernel) form, its closed-form
leave-one-out scores and the per-block Gram matrices the kernel screen sums. Tiny data; a hash-seeded random
"encoder" stands in for a sentence encoder (no downloads; the tiny random BERT of conftest.py gives near-constant
similarities to the category descriptions, which a scaler treats as zero-variance by float rounding)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import RidgeClassifier

from freegens import encoder as E
from freegens.kernels import (
    class_weights,
    doc_features,
    dual_ridge_loo_scores,
    dual_ridge_scores,
    fold_blocks,
    fold_blocks_views,
    rbf_kernel_unit,
)
from freegens.ridge_model import build_pipeline

from .conftest import WORDS


def toy(seed: int = 0, n: int = 70) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    return rng.normal(size=(n, 12)) + np.eye(3)[codes] @ rng.normal(size=(3, 12)), codes


def test_class_weights_are_sklearn_balanced_raised_to_a_power():
    codes = np.array([0, 0, 0, 0, 1, 1, 2])
    balanced = np.array([7 / 12] * 4 + [7 / 6] * 2 + [7 / 3])
    assert np.allclose(class_weights(codes, 3), balanced)
    assert np.allclose(class_weights(codes, 3, 0.5), np.sqrt(balanced))
    assert np.allclose(class_weights(codes, 3, 0.0), 1.0)


@pytest.mark.parametrize(("alpha", "power"), [(1.0, 1.0), (2.0, 1.0), (0.5, 0.5), (3.0, 1.25)])
def test_dual_ridge_equals_sklearn_ridge_classifier(alpha, power):
    X, codes = toy()
    X_test, _ = toy(seed=1, n=20)
    weights = class_weights(codes, 3, power)
    ridge = RidgeClassifier(alpha=alpha, solver="cholesky").fit(X, codes, sample_weight=weights)
    got = dual_ridge_scores(X @ X.T, X_test @ X.T, codes, 3, alpha, weights)
    assert np.allclose(got, ridge.decision_function(X_test), atol=1e-9)
    if power == 1.0:  # and class_weight="balanced" is the same weights
        balanced = RidgeClassifier(alpha=alpha, class_weight="balanced", solver="cholesky").fit(X, codes)
        assert np.allclose(got, balanced.decision_function(X_test), atol=1e-9)


def test_leave_one_out_scores_equal_refits_without_each_row():
    X, codes = toy(n=40)
    weights = class_weights(codes, 3)
    K = X @ X.T
    loo = dual_ridge_loo_scores(K, codes, 3, 2.0, weights)
    for i in range(len(codes)):
        keep = np.delete(np.arange(len(codes)), i)
        ridge = RidgeClassifier(alpha=2.0, solver="cholesky").fit(X[keep], codes[keep], sample_weight=weights[keep])
        assert np.allclose(loo[i], ridge.decision_function(X[i:i + 1])[0], atol=1e-9)
    # and they are not the in-sample scores (which would flatter the fit)
    assert not np.allclose(loo, dual_ridge_scores(K, K, codes, 3, 2.0, weights))


def test_rbf_kernel_of_unit_rows():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    want = np.exp(-1.5 * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    assert np.allclose(rbf_kernel_unit(a, b, 1.5), want)


def texts_and_labels(n: int = 36) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(3)
    labels = np.array(["a", "b", "c"] * (n // 3), dtype=object)
    texts = []
    for i, label in enumerate(labels):
        words = rng.choice(WORDS[:12] if label == "a" else WORDS[10:26] if label == "b" else WORDS[20:], size=30)
        texts.append(" ".join(words) + ("\n    x = 1;" * (i % 3)))
    return texts, labels


class HashEncoder:
    """Unit vectors drawn from a generator seeded by each text's hash: a deterministic stand-in encoder."""

    def __init__(self, dim: int, salt: str):
        self.dim, self.salt, self.spec, self.max_tokens = dim, salt, f"hash-{salt}", 32

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = [np.random.default_rng(int(hashlib.sha1((self.salt + t).encode()).hexdigest()[:8], 16)).normal(
            size=self.dim) for t in texts]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_fold_blocks_sum_to_the_ridge_models_gram_matrix():
    encoder = E.ConcatEncoder([HashEncoder(8, "a"), HashEncoder(12, "b")])  # the embedding block split by part
    texts, y = texts_and_labels()
    dense = doc_features(texts, encoder)
    assert sorted(dense) == ["embedding:0", "embedding:1", "similarity", "stats"]
    train, test = np.arange(0, 36, 2), np.arange(1, 36, 2)
    blocks = fold_blocks(texts, dense, train, test)
    features = clone(build_pipeline(encoder=encoder).pipeline.named_steps["features"])
    f_train = features.fit_transform([texts[i] for i in train], y[train])
    f_test = features.transform([texts[i] for i in test])
    K = sum(k for k, _ in blocks.values())
    K_test = sum(kt for _, kt in blocks.values())
    assert np.allclose(K, (f_train @ f_train.T).toarray(), atol=1e-5)
    assert np.allclose(K_test, (f_test @ f_train.T).toarray(), atol=1e-5)
    # the model's ridge classifier on those features = the dual solution on the summed blocks
    ridge = RidgeClassifier(alpha=2.0, class_weight="balanced", solver="cholesky").fit(f_train.toarray(), y[train])
    codes = np.searchsorted(np.unique(y), y)
    got = dual_ridge_scores(K, K_test, codes[train], 3, 2.0, class_weights(codes[train], 3))
    assert np.allclose(got, ridge.decision_function(f_test.toarray()), atol=1e-4)
    # views: the documents as their own view give the same test blocks; another view gives other ones
    other = [t[: len(t) // 2] for t in texts]  # e.g. a window of each document
    views = fold_blocks_views(texts, dense, train, test, [(texts, dense), (other, doc_features(other, encoder))])
    for name, (k, kts) in views.items():
        assert np.allclose(k, blocks[name][0]) and np.allclose(kts[0], blocks[name][1])
    assert not np.allclose(views["stats"][1][1], views["stats"][1][0])
