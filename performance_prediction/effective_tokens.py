"""Effective tokens: code and non-English tokens count less on English benchmarks (issue 12, session 11).

    D_eff = D * ((1 - c) * (e + l * (1 - e)) + w * c)

c = the data mix's code share, e = the English share of its natural-language part (both 0..1; the release's
``percentage_english`` is read that way: codegen-mono has 38.5 % code and 100 % English), w = ``code_weight``,
l = ``language_weight`` (without it: ``D * (1 - c + w * c)``). The laws and the trees read "tokens" as one number, so
a model trained on 577B tokens of which 38.5 % are code (codegen-mono) is placed where a 577B-token natural-language
model would be and over-predicted on every natural-language task (lambada by .3 and more under the compute law);
bloom and xglm (31-33 % English) are likewise over-predicted on English benchmarks. The design correction can learn a
shift for a share, but only from the few families that vary it. Re-weighting the tokens instead is a fixed,
parameter-free prior on what the data mix does: it needs no family to learn it from, keeps every law monotone in
compute (D_eff is proportional to D for a given mix), and extrapolates. An unknown share keeps the tokens (c = 0,
e = 1), so an unknown mix never moves a prediction by itself; the scale-extrapolation split and every report column
still use the real tokens (only the estimator's own input is transformed).

``EnsembleRegressor(code_weight=w, language_weight=l)`` (``ensemble.py``) fits and predicts every part on D_eff;
its ``law_predict`` (the what-if ``basis``) stays the prediction from params and the real tokens, i.e. what a spec
without a data mix gets. The same weights apply to every task, humaneval included (measured, not assumed:
``benchmarks/RESULTS.md``, "Issue 12 — effective tokens (session 11)" and "... second idea: the English share").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TOKENS = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"
ENGLISH = "pretraining_summary_percentage_english"


def effective_tokens(X: pd.DataFrame, code_weight: float, language_weight: float | None = None) -> pd.DataFrame:
    """A copy of ``X`` whose tokens are ``D * (1 - c + code_weight * c)`` (``c`` the code share; unknown: 0).

    ``language_weight`` (opt-in, session 11): the natural-language part counts its English share fully and the rest
    ``language_weight``, ``D * ((1 - c) * (e + language_weight * (1 - e)) + code_weight * c)`` (``e`` the English
    share; unknown: 1) — the benchmarks are English."""
    for name, w in (("code_weight", code_weight), ("language_weight", language_weight)):
        if w is not None and not 0.0 < w <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {w}")
    if TOKENS not in X:
        return X
    share = _share(X, CODE, unknown=0.0)
    english = _share(X, ENGLISH, unknown=1.0)
    natural = np.ones(len(X)) if language_weight is None else english + language_weight * (1.0 - english)
    out = X.copy()
    out[TOKENS] = pd.to_numeric(X[TOKENS], errors="coerce").to_numpy(float) * ((1.0 - share) * natural
                                                                               + code_weight * share)
    return out


def _share(X: pd.DataFrame, column: str, unknown: float) -> np.ndarray:
    """A percentage column as a 0..1 share; missing (no column, or NaN) -> ``unknown``."""
    if column not in X:
        return np.full(len(X), unknown)
    return pd.to_numeric(X[column], errors="coerce").fillna(unknown * 100.0).clip(0.0, 100.0).to_numpy(float) / 100.0
