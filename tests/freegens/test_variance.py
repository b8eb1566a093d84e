"""Session-7 pieces of the offline domain classifier: several inner CV repeats for the macro-F1 offsets (pooled or
averaged), the bagged ridge head and the window-augmented training rows. Tiny data; the tiny random BERT of
conftest.py stands in for a sentence encoder (no downloads)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier

from freegens import encoder as E
from freegens.local_model import score_predictions
from freegens.offsets import MacroF1Offsets, bootstrap_offsets, choose_offsets, combine_offsets, inner_splits
from freegens.ridge_model import BaggedRidge, WindowAugmented


def toy(seed: int, n_major: int = 60, n_rare: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = {"a": (-2.0, 0.0), "b": (2.0, 0.0), "rare": (0.0, 0.9)}
    sizes = {"a": n_major, "b": n_major, "rare": n_rare}
    X = np.concatenate([rng.normal(centres[k], 1.0, size=(n, 2)) for k, n in sizes.items()])
    return X, np.concatenate([[k] * n for k, n in sizes.items()]).astype(object)


def test_inner_splits_are_stratified_reshuffled_and_keep_singletons_training():
    y = np.array(["a"] * 10 + ["b"] * 6 + ["lonely"], dtype=object)
    repeats = list(inner_splits(y, folds=3, seed=5, repeats=2))
    assert len(repeats) == 2
    for kept, splits in repeats:
        assert kept.sum() == 16 and not kept[16]
        tested = np.concatenate([te for _, te in splits])
        assert sorted(tested) == list(range(16))  # every kept document scored once per repeat
        for train, test in splits:
            assert 16 in train and not set(train) & set(test)
            assert sum(y[test] == "b") == 2  # 6 documents over 3 folds
    assert [list(te) for _, te in repeats[0][1]] != [list(te) for _, te in repeats[1][1]]  # another shuffle


def test_combine_offsets_pools_or_averages_by_hand():
    scores = np.array([[1.0, 0.0, 0.8]] * 5 + [[1.0, 0.0, 0.2]] * 45 + [[0.0, 1.0, 0.1]] * 50)
    y = np.array([2] * 5 + [0] * 45 + [1] * 50)
    other = scores.copy()
    other[:5, 2] = 0.5  # in this repeat class 2 needs a larger offset
    one, two = choose_offsets(scores, y), choose_offsets(other, y)
    assert one[2] != two[2]
    assert np.allclose(combine_offsets([(scores, y), (other, y)], "mean"), (one + two) / 2)
    pooled = combine_offsets([(scores, y), (other, y)], "pool")
    assert np.allclose(pooled, choose_offsets(np.vstack([scores, other]), np.concatenate([y, y])))
    assert np.allclose(combine_offsets([(scores, y)], "mean"), one)
    assert np.allclose(combine_offsets([(scores, y)], "pool"), one)


def test_bootstrap_offsets_average_choices_on_stratified_resamples():
    rng = np.random.default_rng(0)
    y = np.array([2] * 4 + [0] * 40 + [1] * 40)
    scores = rng.normal(size=(84, 3)) + np.eye(3)[y] * 0.8
    got = bootstrap_offsets(scores, y, n_boot=5, seed=7)
    draw = np.random.default_rng(7)
    members = [np.flatnonzero(y == k) for k in range(3)]
    chosen = []
    for _ in range(5):
        rows = np.concatenate([draw.choice(m, size=len(m), replace=True) for m in members])
        assert np.array_equal(np.bincount(y[rows], minlength=3), [40, 40, 4])  # every class, at its own size
        chosen.append(choose_offsets(scores[rows], y[rows]))
    assert np.allclose(got, np.mean(chosen, axis=0))
    assert not np.allclose(got, choose_offsets(scores, y))  # not the choice on the rows as given


def test_macro_f1_offsets_mean_of_repeats_and_bad_combine():
    X, y = toy(0)
    pooled = MacroF1Offsets(RidgeClassifier(), inner_repeats=3, seed=1).fit(list(X), y)
    mean = MacroF1Offsets(RidgeClassifier(), inner_repeats=3, seed=1, combine="mean").fit(list(X), y)
    parts = mean.repeat_scores(list(X), y)
    assert len(parts) == 3
    assert np.allclose(mean.offsets_, np.mean([choose_offsets(s, c) for s, c in parts], axis=0))
    assert np.allclose(pooled.offsets_, choose_offsets(*pooled.inner_scores(list(X), y)))
    single = MacroF1Offsets(RidgeClassifier(), seed=1).fit(list(X), y)
    assert np.allclose(single.offsets_, choose_offsets(*parts[0]))  # repeat 0 is the one-repeat model's split
    with pytest.raises(ValueError, match="combine must be one of"):
        MacroF1Offsets(RidgeClassifier(), combine="median").fit(list(X), y)


def test_bagged_ridge_averages_balanced_bootstrap_fits():
    X, y = toy(1)
    bag = BaggedRidge(alpha=1.0, n_bags=4, seed=3).fit(X, y)
    assert len(bag.estimators_) == 4 and list(bag.classes_) == ["a", "b", "rare"]
    assert np.allclose(bag.decision_function(X), np.mean([m.decision_function(X) for m in bag.estimators_], axis=0))
    assert np.array_equal(bag.predict(X), bag.classes_[bag.decision_function(X).argmax(1)])
    # one bag by hand: the same draws, duplicated as rows, with sklearn's balanced weights on the drawn rows
    rng = np.random.default_rng(3)
    codes = np.unique(y, return_inverse=True)[1]
    draws = np.concatenate([rng.choice(np.flatnonzero(codes == k), size=(codes == k).sum()) for k in range(3)])
    manual = RidgeClassifier(alpha=1.0, class_weight="balanced").fit(X[draws], y[draws])
    assert np.allclose(bag.estimators_[0].decision_function(X), manual.decision_function(X), atol=1e-8)
    again = BaggedRidge(alpha=1.0, n_bags=4, seed=3).fit(X, y)
    assert np.allclose(again.decision_function(X), bag.decision_function(X))
    assert not np.allclose(BaggedRidge(n_bags=4, seed=4).fit(X, y).decision_function(X), bag.decision_function(X))
    with pytest.raises(ValueError, match="n_bags"):
        BaggedRidge(n_bags=0).fit(X, y)


class Recorder(RidgeClassifier):
    """A ridge classifier on two word counts that remembers the rows it was fitted on."""

    def fit(self, X, y, sample_weight=None):
        self.rows_ = (list(X), list(y))
        return super().fit(self._vec(X), y)

    def decision_function(self, X):
        return super().decision_function(self._vec(X))

    @staticmethod
    def _vec(X):
        return np.array([[t.count("story"), t.count("price")] for t in X], dtype=float)


def test_window_augmented_adds_the_windows_of_rare_training_documents(tiny_bert):
    windows = E.WindowEncoder(E.TextEncoder(str(tiny_bert), max_tokens=16))
    long = " ".join(["the story"] * 20 + ["def return"] * 10 + ["buy price"] * 20)
    X = [long, "the data", "the story", "buy price", "the price", "the story of the data"]
    y = np.array(["rare", "rare", "big", "big", "big", "big"], dtype=object)
    model = WindowAugmented(Recorder(), windows, classes_below=3).fit(X, y)
    rows, labels = model.estimator_.rows_
    wins = windows.window_texts([long])[0]
    assert rows == [*X, wins["middle"], wins["last"]] and labels == [*y, "rare", "rare"]
    assert model.n_added_ == 2  # the short rare text is its own window: not added again
    assert list(model.classes_) == ["big", "rare"]
    assert np.array_equal(model.predict(["buy price"]), model.estimator_.predict(["buy price"]))
    every = WindowAugmented(Recorder(), windows, classes_below=None).fit(X, y)
    assert every.n_added_ == 2  # the big class's texts are all shorter than one window
    none = WindowAugmented(Recorder(), windows, classes_below=2).fit(X, y)
    assert none.n_added_ == 0 and none.estimator_.rows_[0] == X


def test_score_predictions_counts_like_sklearn():
    y = np.array(["web"] * 6 + ["code"] * 2 + ["unknown"] * 2, dtype=object)
    pred = np.array(["web"] * 5 + ["code"] * 2 + ["web", "unknown", "web"], dtype=object)
    res = score_predictions(y, pred)
    assert res["accuracy"] == pytest.approx(0.7)
    assert res["per_class"]["code"]["recall"] == 0.5 and res["per_class"]["code"]["precision"] == 0.5
    assert res["paper_protocol"]["kept"] == 8  # the two rows labelled or predicted unknown left out
    assert res["confusion"][0] == [1, 0, 1]  # code: one right, one as web


def test_macro_f1_offsets_with_resamples_average_bootstrap_choices():
    X, y = toy(2)
    model = MacroF1Offsets(RidgeClassifier(), seed=4, resamples=6).fit(list(X), y)
    scores, codes = model.inner_scores(list(X), y)
    assert np.allclose(model.offsets_, bootstrap_offsets(scores, codes, n_boot=6, seed=4))


def test_cli_offset_resamples_and_bad_combinations(labelled_csv, tmp_path, capsys):
    import json

    from freegens.domains_cli import main
    from freegens.local_model import LocalDomainClassifier

    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), "--objective", "macro_f1", "--alpha", "2",
                 "--offset_resamples", "4"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["offset_resamples"] == 4 and meta["alpha"] == 2.0
    fitted = LocalDomainClassifier.load(out).pipeline
    assert fitted.resamples == 4 and fitted.estimator_.named_steps["clf"].alpha == 2.0
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--objective", "macro_f1", "--offset_resamples", "4",
                 "--output", str(report)]) == 0
    assert "--offset_resamples 4" in report.read_text()
    capsys.readouterr()
    for bad in (["--offset_resamples", "4"], ["--objective", "macro_f1", "--offset_resamples", "-1"],
                ["--objective", "macro_f1", "--model", "stack", "--offset_resamples", "4"]):
        target = tmp_path / "bad"
        assert main(["train", str(labelled_csv), "--output", str(target), *bad]) == 2
        assert "--offset_resamples" in capsys.readouterr().err and not target.exists()
