"""The ridge domain model in kernel (dual) form, for screening heads on shared fits (issue 14, session 8).

With 600-800 training documents and ~50,000 TF-IDF columns the ridge classifier of
:func:`freegens.ridge_model.build_pipeline` is cheaper to solve through the n × n Gram matrix than through the
columns: ``(K_c + alpha * S^-1) a = Y_c`` (``K_c`` the Gram matrix centred with the sample weights, ``S`` the
sample weights, ``Y_c`` the centred -1/+1 targets), the same solution as sklearn's ``RidgeClassifier`` with an
intercept and ``sample_weight``. The Gram matrix is a sum of one matrix per feature block (TF-IDF, statistics,
category similarities, each encoder's embedding), so reweighting a block, changing the ridge penalty or the class
weights, or adding a non-linear (RBF) kernel on the embeddings costs one n × n solve instead of a refit — what
``benchmarks/bench_domain_kernels.py`` screens.
"""
from __future__ import annotations

import numpy as np

from .ridge_model import BLOCK_WEIGHTS, DocStats, EncoderFeatures, word_vectorizer
from .encoder import encoder_parts


def doc_features(texts: list[str], encoder) -> dict[str, np.ndarray]:
    """The label-free per-document inputs of the dense blocks: the statistics and cue counts
    (:class:`freegens.ridge_model.DocStats`), the similarities to the category descriptions and the embedding of
    each of the encoder's parts (``embedding:0``, ``embedding:1``... in the order of ``encoder.encoders``; one part
    for a single encoder), as the model computes them (the parts of a :class:`freegens.encoder.ConcatEncoder`
    divided by sqrt(k), so their columns are the model's embedding block's)."""
    out = {"stats": DocStats().transform(texts),
           "similarity": EncoderFeatures(encoder, "similarity").transform(texts)}
    out.update(encoder_parts(encoder, texts))
    return out


def fold_blocks(texts: list[str], dense: dict[str, np.ndarray], train: np.ndarray, test: np.ndarray) -> dict:
    """Per block, the (train × train, test × train) Gram matrices of the ridge model's features fitted on
    ``train`` only: the word 1-2-gram TF-IDF of :func:`freegens.ridge_model.build_pipeline` and each dense block
    of :func:`doc_features` standardised on ``train`` and multiplied by its :data:`BLOCK_WEIGHTS` weight.

    The sum of the blocks is ``F_train F_train^T`` (and ``F_test F_train^T``) for the model's feature matrix F
    (the embedding block split by encoder part: the scaler works column by column, so the split is exact)."""
    return {name: (k, kts[0]) for name, (k, kts) in fold_blocks_views(texts, dense, train, test).items()}


def fold_blocks_views(texts: list[str], dense: dict[str, np.ndarray], train: np.ndarray, test: np.ndarray,
                      views: list[tuple[list[str], dict[str, np.ndarray]]] | None = None) -> dict:
    """:func:`fold_blocks` with the test documents read in several *views* (e.g. token windows of each document):
    per block the training Gram matrix and one test × train matrix per view. A view is (texts, dense inputs), both
    indexed like ``texts``; only its ``test`` rows are read. Default: the documents themselves (one view)."""
    from sklearn.preprocessing import StandardScaler

    views = views or [(texts, dense)]
    tfidf = word_vectorizer()
    w_train = tfidf.fit_transform([texts[i] for i in train])
    out = {"word": (np.asarray((w_train @ w_train.T).todense()),
                    [np.asarray((tfidf.transform([v[i] for i in test]) @ w_train.T).todense()) for v, _ in views])}
    for name, values in dense.items():
        scaler = StandardScaler().fit(values[train])
        weight = BLOCK_WEIGHTS[name.split(":")[0]]
        f_train = weight * scaler.transform(values[train])
        out[name] = (f_train @ f_train.T, [weight * scaler.transform(d[name][test]) @ f_train.T for _, d in views])
    return out


def rbf_kernel_unit(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma * |a_i - b_j|^2)`` for unit-length rows: ``exp(-2 * gamma * (1 - cos))``."""
    return np.exp(-2.0 * gamma * (1.0 - np.clip(a @ b.T, -1.0, 1.0)))


def class_weights(codes: np.ndarray, n_classes: int, power: float = 1.0) -> np.ndarray:
    """Per training row, sklearn's ``class_weight="balanced"`` weight ``n / (classes * count)`` raised to
    ``power`` (1: balanced, 0: none)."""
    counts = np.bincount(codes, minlength=n_classes).astype(float)
    present = counts > 0
    balanced = np.zeros(n_classes)
    balanced[present] = len(codes) / (present.sum() * counts[present])
    return balanced[codes] ** power


def dual_ridge_scores(K: np.ndarray, K_test: np.ndarray, codes: np.ndarray, n_classes: int, alpha: float,
                      sample_weight: np.ndarray) -> np.ndarray:
    """Decision scores (test × classes) of a one-vs-rest ridge classifier (-1/+1 targets, an intercept,
    ``sample_weight``) solved in dual form from the training Gram matrix ``K`` and the test × train ``K_test``.

    sklearn's ``RidgeClassifier`` centres features and targets with the weighted means; here that centring is
    applied to the kernel (``x - x_mean`` in feature space), so any positive semi-definite ``K`` (linear, RBF or a
    sum) gives the ridge classifier of its feature space with the same intercept.
    """
    return dual_ridge_target_scores(K, K_test, signed_targets(codes, n_classes), alpha, sample_weight)


def dual_ridge_target_scores(K: np.ndarray, K_test: np.ndarray, targets: np.ndarray, alpha: float,
                             sample_weight: np.ndarray) -> np.ndarray:
    """:func:`dual_ridge_scores` for any real targets (train × outputs): e.g. ``Y - X w0``, the residual of a
    prior mean ``w0`` (:mod:`freegens.prior`)."""
    sw, w, Kw, Kc = _centred_problem(K, sample_weight)
    y_mean = w @ targets
    a = np.linalg.solve(Kc + alpha * np.diag(1.0 / sw), targets - y_mean)
    Kt_c = K_test - (K_test @ w)[:, None] - Kw[None, :] + w @ Kw
    return Kt_c @ a + y_mean


def _centred_problem(K: np.ndarray, sample_weight) -> tuple:
    """The pieces both dual solves share: sample weights ``sw``, their normalised ``w``, ``K w`` (K x_mean per
    training row) and the training Gram matrix centred on the weighted mean ``Kc``."""
    sw = np.asarray(sample_weight, dtype=float)
    w = sw / sw.sum()
    Kw = K @ w
    return sw, w, Kw, K - Kw[:, None] - Kw[None, :] + w @ Kw


def signed_targets(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """The ridge classifier's targets: +1 in a row's class column, -1 elsewhere."""
    Y = -np.ones((len(codes), n_classes))
    Y[np.arange(len(codes)), codes] = 1.0
    return Y


def dual_ridge_loo_scores(K: np.ndarray, codes: np.ndarray, n_classes: int, alpha: float,
                          sample_weight: np.ndarray) -> np.ndarray:
    """Leave-one-out decision scores (train × classes) of :func:`dual_ridge_scores` on its own training rows, in
    closed form: the fit is linear in the targets, ``F = H Y``, and leaving row i out gives
    ``y_i - (y_i - f_i) / (1 - H_ii)`` (the penalised weighted least-squares identity; the other rows keep their
    sample weights, and the kernel — e.g. the TF-IDF vocabulary and scalers, which use no label — stays the one
    fitted with row i).

    One fit instead of an inner cross-validation's three, and every held-out row is scored by a model that saw
    all other training rows — the rare classes' 4-7 documents lose one each, not a third of them.
    """
    sw, w, _, Kc = _centred_problem(K, sample_weight)
    Y = signed_targets(codes, n_classes)
    n = len(codes)
    center = np.eye(n) - np.outer(np.ones(n), w)  # Y -> Y - 1 w^T Y
    H = Kc @ np.linalg.solve(Kc + alpha * np.diag(1.0 / sw), center) + np.outer(np.ones(n), w)
    F = H @ Y
    return Y - (Y - F) / (1.0 - np.diag(H))[:, None]


def label_spreading(emb: np.ndarray, labelled: np.ndarray, codes: np.ndarray, n_classes: int, k: int = 10,
                    keep: float = 0.9) -> np.ndarray:
    """Zhou et al.'s label spreading over the symmetric k-nearest-neighbour graph (cosine of the unit-length rows
    of ``emb``): ``(I - keep * S)^-1 Y0`` with ``S = D^-1/2 W D^-1/2``, ``Y0`` one-hot rows for the ``labelled``
    rows (their ``codes``) divided by each class's count — so a class of 5 documents spreads as much mass as one of
    500 — and 0 for the other rows, which are only read (transductive: no label of theirs is used).
    Returns rows × classes."""
    n = len(emb)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argpartition(-sims, k, axis=1)[:, :k]
    W = np.zeros((n, n))
    W[np.repeat(np.arange(n), k), nearest.ravel()] = 1.0
    W = np.maximum(W, W.T)
    d = 1.0 / np.sqrt(W.sum(axis=1))
    Y0 = np.zeros((n, n_classes))
    counts = np.bincount(codes, minlength=n_classes).astype(float)
    Y0[labelled, codes] = 1.0 / counts[codes]
    return np.linalg.solve(np.eye(n) - keep * (d[:, None] * W * d[None, :]), Y0)


def prior_fold_scores(dense: dict[str, np.ndarray], def_parts: dict[str, np.ndarray], defined: np.ndarray,
                      train: np.ndarray, test: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per encoder block of ``dense`` (``embedding:i``, as :func:`freegens.kernels.doc_features`), the training and
    test rows' prior scores ``X w0`` for ``w0`` the block's :func:`prior_directions`: the block standardised on
    ``train`` and weighted as the model's (:data:`freegens.ridge_model.BLOCK_WEIGHTS`), exactly the features
    :func:`freegens.kernels.fold_blocks` builds its Gram matrix from; ``def_parts``: the block's
    :func:`definition_vectors`."""
    from sklearn.preprocessing import StandardScaler

    from .prior import prior_directions

    out = {}
    for name, defs in def_parts.items():
        scaler = StandardScaler().fit(dense[name][train])
        weight = BLOCK_WEIGHTS[name.split(":")[0]]
        u = prior_directions(scaler.transform(defs), defined)
        # X w0 for w0 = u: the block's weight and scale are in the features, as in fold_blocks
        out[name] = tuple(weight * scaler.transform(dense[name][rows]) @ u.T for rows in (train, test))
    return out
