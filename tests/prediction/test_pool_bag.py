"""Issue 12, session 6: family-bootstrap bagging of the laws (``LawRegressor(bags=...)``) and partial pooling of
the law's parameters across the tasks of a metric (``performance_prediction.pooling``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.families import families
from performance_prediction.laws import Curve, LawRegressor, ScaleFrame, fit_law
from performance_prediction.pooling import PoolSource
from performance_prediction.validation import log_compute

TOK = "pretraining_summary_total_tokens_billions"


def _models(n: int, seed: int, n_fam: int = 10, tag: str = "org") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"total_params": 10 ** rng.uniform(8, 10.5, n), TOK: 10 ** rng.uniform(1.5, 3.5, n)},
                        index=[f"{tag}{i % n_fam}/fam{i % n_fam}-{i}b" for i in range(n)])


def _brier(X: pd.DataFrame, seed: int, slope: float = 2.0, mid: float = 0.0, noise: float = 0.01) -> np.ndarray:
    """A falling Brier law in raw log compute (slope per unit of log C, midpoint ``mid`` in log-C units from
    log(6e20)): the same function of compute whatever models a task has."""
    rng = np.random.default_rng(seed)
    u = slope * (log_compute(X) - np.log(6e20) - mid)
    return Curve(False, 2.0, 1.0, 0.5, np.array([1.0]), 0.0, np.zeros(0)).value(u) + rng.normal(0, noise, len(X))


def _law(**kw) -> LawRegressor:
    return LawRegressor(form="compute", metric="brier_score", upper=2.0, higher_is_better=False, task="a",
                        intervals=False, **kw)


# ----------------------------------------------------------------------------------------------- bagging
@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_bad_bags_refused_before_fitting(bad):
    X = _models(40, 0)
    est = _law(bags=bad)
    with pytest.raises(ValueError, match="bags must be an integer >= 0"):
        est.fit(X, _brier(X, 0), groups=families(X.index))
    assert not hasattr(est, "parts_")   # nothing fitted, nothing half-set


def test_bagging_averages_family_bootstrap_refits_deterministically():
    X = _models(60, 1)
    y, g = _brier(X, 1, noise=0.03), np.asarray(families(X.index))
    plain = _law().fit(X, y, groups=g)
    bag = _law(bags=6, seed=3).fit(X, y, groups=g)
    again = _law(bags=6, seed=3).fit(X, y, groups=g)
    other = _law(bags=6, seed=4).fit(X, y, groups=g)
    assert len(plain.parts_) == 1 and len(bag.parts_) == 6
    np.testing.assert_array_equal(bag.predict(X), again.predict(X))        # deterministic for a seed
    assert np.abs(bag.predict(X) - other.predict(X)).max() > 1e-6          # the seed draws the bags
    # the prediction is the mean of the bags' laws; the full-data law is kept for the effects and intervals
    R = ScaleFrame.raw(X)
    each = [c.value(c.u(f.scale.design(f.scale.transform(R), "compute"))) for _w, f, c in bag.parts_]
    np.testing.assert_allclose(bag.predict(X), np.clip(np.mean(each, axis=0), 0, 2.0))
    assert bag.curve_.b == plain.curve_.b and bag.curve_.slopes == plain.curve_.slopes
    # every bag is fitted on whole families: a family's rows come all or not at all, some of them twice
    for _w, f, _c in bag.parts_:
        assert len(f.Z) % 6 == 0 and len(f.Z) == 60   # 10 families of 6 models each, 10 drawn


def test_bagging_steadies_a_law_on_few_families():
    """The effect: on a toy task with few families, each of which sits off the curve by its own offset, the
    bagged law's predictions on new models vary less between training draws and miss the truth less often
    than the single fit's (averaged over 12 draws)."""
    Xt = _models(200, 99, n_fam=50, tag="new")
    truth = _brier(Xt, 99, noise=0.0)
    err = {0: [], 15: []}
    preds = {0: [], 15: []}
    for draw in range(12):
        X = _models(36, draw, n_fam=6)
        g = np.asarray(families(X.index))
        offset = np.random.default_rng(100 + draw).normal(0, 0.06, 6)[[int(f[3]) for f in g]]
        y = _brier(X, draw, noise=0.01) + offset
        for b in err:
            p = _law(bags=b, seed=draw).fit(X, y, groups=g).predict(Xt)
            err[b].append(np.mean(np.abs(p - truth)))
            preds[b].append(p)
    spread = {b: float(np.mean(np.std(preds[b], axis=0))) for b in preds}
    assert spread[15] < spread[0]
    assert np.mean(err[15]) < np.mean(err[0])


def test_warm_start_refit_and_mismatched_start_refused():
    X = _models(50, 2)
    y = _brier(X, 2)
    S = ScaleFrame.fit(ScaleFrame.raw(X)).transform(ScaleFrame.raw(X))[:, [2]]
    full = fit_law(S, y, increasing=False, upper=2.0, chance=0.75)
    warm = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, start=full)
    assert warm.b == pytest.approx(full.b, abs=1e-3) and warm.slopes[0] == pytest.approx(full.slopes[0], abs=1e-3)
    with pytest.raises(ValueError, match="start"):
        fit_law(S, y, increasing=True, upper=1.0, chance=0.25, start=full)
    bag = _law(bags=4, bag_warm=True).fit(X, y, groups=families(X.index))
    assert len(bag.parts_) == 4 and np.isfinite(bag.predict(X)).all()


# ----------------------------------------------------------------------------------------------- pooling
def _pool(seed: int = 0, outlier: float = 0.0):
    """Tasks a (few, noisy models), b and c (many) on the same law of compute; in b the family org0 is off by
    ``outlier``."""
    Xa, Xb, Xc = _models(16, seed, n_fam=4), _models(60, seed + 1), _models(60, seed + 2)
    yb = _brier(Xb, seed + 1) + outlier * np.array([i.startswith("org0/") for i in Xb.index])
    frames = {"a": (Xa, _brier(Xa, seed, noise=0.06)), "b": (Xb, yb), "c": (Xc, _brier(Xc, seed + 2))}
    return frames, PoolSource(frames)


def test_fit_law_prior_pulls_the_parameters():
    X = _models(40, 5)
    y = _brier(X, 5)
    S = ScaleFrame.fit(ScaleFrame.raw(X)).transform(ScaleFrame.raw(X))[:, [2]]
    prior = np.array([np.nan, np.nan, 0.7, 1.3])
    strong = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, prior=prior, prior_strength=1e4)
    free = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, prior=prior, prior_strength=0.0)
    plain = fit_law(S, y, increasing=False, upper=2.0, chance=0.75)
    assert strong.slopes[0] == pytest.approx(0.7, abs=0.01) and strong.b == pytest.approx(1.3, abs=0.01)
    assert (free.b, free.slopes[0]) == (plain.b, plain.slopes[0])   # strength 0: the plain fit
    with pytest.raises(ValueError, match="prior has 3 parameters"):
        fit_law(S, y, increasing=False, upper=2.0, chance=0.75, prior=prior[:3], prior_strength=1.0)


def test_prior_leaves_out_every_held_out_family_of_the_task():
    frames, pool = _pool(outlier=0.5)
    Xa = frames["a"][0]
    train = [i for i in Xa.index if not i.startswith("org0/")]   # org0 held out of task a
    assert pool.excluded("a", train) == frozenset({"org0/fam0"})
    est = _law(pool=pool, pool_strength=1.0)
    scale = ScaleFrame.fit(ScaleFrame.raw(Xa.loc[train]))
    got = pool.prior(est, "compute", scale, train)
    # the same prior from a pool whose task b never had org0 (its outlier rows): the held-out family is gone
    Xb, yb = frames["b"]
    keep = ~Xb.index.str.startswith("org0/")
    clean = PoolSource({"a": frames["a"], "b": (Xb[keep], yb[keep]), "c": frames["c"]})
    np.testing.assert_allclose(got, clean.prior(est, "compute", scale, train))
    # with org0 in a's training rows its task-b rows are used, and they move the prior
    assert not np.allclose(pool.prior(est, "compute", scale, list(Xa.index)),
                           clean.prior(est, "compute", scale, list(Xa.index)))
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()   # "shape": slope and intercept only


def test_pooling_pulls_a_noisy_task_towards_the_shared_law():
    """The effect: task a has 16 noisy models; with a strong pull its law lands near the law it shares with b
    and c (truth on new models), the plain fit misses it more. Deterministic."""
    Xt = _models(100, 77, tag="new")
    truth = _brier(Xt, 0, noise=0.0)
    errs = {}
    for strength in (0.0, 1.0):
        miss = []
        for seed in range(4):
            frames, pool = _pool(seed * 10)
            Xa, ya = frames["a"]
            est = _law(pool=pool, pool_strength=strength).fit(Xa, ya, groups=families(Xa.index))
            miss.append(np.mean(np.abs(est.predict(Xt) - truth)))
        errs[strength] = np.mean(miss)
    assert errs[1.0] < 0.8 * errs[0.0]
    frames, pool = _pool(0)
    Xa, ya = frames["a"]
    a1 = _law(pool=pool, pool_grid=(0.0, 1.0), cv_folds=2).fit(Xa, ya, groups=families(Xa.index))
    a2 = _law(pool=pool, pool_grid=(0.0, 1.0), cv_folds=2).fit(Xa, ya, groups=families(Xa.index))
    assert a1.pool_strength_ in (0.0, 1.0) and a1.best_params_["pool_strength"] == a1.pool_strength_
    np.testing.assert_array_equal(a1.predict(Xt), a2.predict(Xt))   # the grid's choice is deterministic


@pytest.mark.parametrize("kw, msg", [({"pool_strength": -1.0}, "pool_strength and pool_grid"),
                                     ({"pool_grid": (0.0, float("nan"))}, "pool_strength and pool_grid"),
                                     ({"pool_params": "ceiling"}, "unknown pool_params 'ceiling'")])
def test_bad_pool_settings_refused_before_fitting(kw, msg):
    frames, pool = _pool()
    Xa, ya = frames["a"]
    est = _law(pool=pool, **kw)
    with pytest.raises(ValueError, match=msg):
        est.fit(Xa, ya, groups=families(Xa.index))
    assert not hasattr(est, "parts_")


def test_pool_source_refuses_one_task_and_unknown_tasks():
    frames, pool = _pool()
    with pytest.raises(ValueError, match="at least 2 tasks"):
        PoolSource({"a": frames["a"]})
    with pytest.raises(ValueError, match="task 'zzz' is not in the pool"):
        pool.excluded("zzz", [])


def test_bagged_predictors_registered_with_their_settings():
    from performance_prediction.predictors import BAGS, DESIGN_PREDICTORS, LAW_PREDICTORS, make_predictor

    for name, base in [("law_sigmoid_compute_bag", "law_sigmoid_compute"),
                       ("design_blend_data_half_bag", "design_blend_data_half"), ("design_arch_bag", "design_arch")]:
        p, q = make_predictor(name).get_params(), make_predictor(base).get_params()
        assert (p["bags"], p["bag_warm"], q["bags"]) == (BAGS, True, 0)
        assert {k: v for k, v in p.items() if k not in ("bags", "bag_warm")} == \
            {k: v for k, v in q.items() if k not in ("bags", "bag_warm")}   # otherwise the base predictor
        assert name in LAW_PREDICTORS + DESIGN_PREDICTORS
