"""The design correction shared across tasks (issue 12, session 4): folds, fit, and no leakage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.shared_design import (fit_shared, predict_shared, shared_cv, shared_family_folds,
                                                   shared_multipliers)
from performance_prediction.validation import log_compute

TOK = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"


def _tasks(n_tasks: int = 3, n: int = 48, effect: float = 0.8, seed: int = 0):
    """Tasks over overlapping model sets (16 families); every 10 points of code are worth exp(``effect``) x
    compute on every task, each task with its own sigmoid."""
    rng = np.random.default_rng(seed)
    pool = 70
    params, tokens = 10 ** rng.uniform(8, 10.5, pool), 10 ** rng.uniform(1.5, 3.5, pool)
    code = rng.uniform(0, 40, pool)
    ids = [f"org{i % 16}/fam{i % 16}-{i}b" for i in range(pool)]
    models = pd.DataFrame({"total_params": params, TOK: tokens, CODE: code,
                           "pretraining_summary_percentage_web": 100 - code}, index=ids)
    lc = log_compute(models) + effect * (code - code.mean()) / 10
    frames, fams = [], []
    for t in range(n_tasks):
        pick = np.sort(rng.choice(pool, n, replace=False))
        X = models.iloc[pick]
        z = (lc[pick] - lc.mean()) / lc.std()
        y = 0.25 + 0.6 / (1 + np.exp(-(1.5 + 0.3 * t) * z)) + rng.normal(0, 0.004, n)
        frames.append((X, y))
        fams.append(np.array([i.split("-")[0] for i in X.index]))
    return frames, fams, [f"task{t}" for t in range(n_tasks)]


def test_shared_folds_hold_each_family_out_of_every_task_at_once():
    _, fams, _ = _tasks()
    for seed in (42, 43):
        folds = shared_family_folds(fams, 3, seed)
        tested = [np.zeros(len(g), int) for g in fams]
        for masks in folds:
            train = set().union(*(set(g[m]) for g, m in zip(fams, masks, strict=True)))
            test = set().union(*(set(g[~m]) for g, m in zip(fams, masks, strict=True)))
            assert test and not (train & test)
            for t, m in enumerate(masks):
                tested[t] += ~m
        assert all((c == 1).all() for c in tested)   # every row of every task is held out exactly once


def test_shared_shift_recovers_the_planted_multiplier_and_beats_the_law():
    frames, fams, tasks = _tasks()
    model = fit_shared([f[0] for f in frames], [f[1] for f in frames], fams, tasks, "accuracy", design="data",
                       seed=0, margin=0.0)
    assert model["use"] and model["shift"] is not None
    beta = dict(zip(model["enc"].names, model["shift"].beta, strict=True))
    code_sd = np.std(np.concatenate([f[0][CODE].to_numpy() for f in frames]))
    # web = 100 - code carries the same signal: their joint effect per +10 points of code is the planted 0.8
    per10 = (beta[CODE] - beta["pretraining_summary_percentage_web"]) * 10 / code_sd
    assert per10 == pytest.approx(0.8, abs=0.25)
    mult = shared_multipliers(model).set_index("decision")
    assert set(mult.index) == set(model["enc"].names) and (mult.unit == "+10 points").all()
    m = mult["compute_multiplier"]
    assert m[CODE] > 1 > m["pretraining_summary_percentage_web"]
    X0 = [f[0] for f in frames]
    shifted = predict_shared(model, X0, "data", gate=False)
    laws = [law.predict(X) for law, X in zip(model["laws"], X0, strict=True)]
    for (_, y), s, law in zip(frames, shifted, laws, strict=True):
        assert np.mean(np.abs(s - y)) < 0.7 * np.mean(np.abs(law - y))
    # an unknown data mix applies no correction: the prediction is the law's
    blank = [X.assign(**{CODE: np.nan, "pretraining_summary_percentage_web": np.nan}) for X in X0]
    for s, law in zip(predict_shared(model, blank, "data", gate=False), laws, strict=True):
        np.testing.assert_allclose(s, law)


def test_held_out_targets_never_enter_any_fit():
    frames, fams, tasks = _tasks(n_tasks=2, n=36)
    spec = {"shared_data": {"design": "data", "margin": 0.0}}
    ref, _ = shared_cv(frames, fams, tasks, "accuracy", [42], spec)
    masks = shared_family_folds(fams, 3, 42)[0]
    # scramble the targets of fold 0's held-out families in every task: fold 0's predictions must not move
    noisy = [(X, np.where(m, y, 1.0 - y)) for (X, y), m in zip(frames, masks, strict=True)]
    out, _ = shared_cv(noisy, fams, tasks, "accuracy", [42], spec)
    a, b = (f[f.fold == 0].sort_values(["predictor", "task", "id"]) for f in (ref, out))
    np.testing.assert_array_equal(a.y_pred.to_numpy(), b.y_pred.to_numpy())
    assert not np.allclose(a.y_true.to_numpy(), b.y_true.to_numpy())
    assert set(a.predictor) == {"shared_data", "shared_data_gate", "shared_base_law"}
