"""Per-class decision offsets for macro-F1 (``--objective macro_f1``) and the rare-class definition cues."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import RidgeClassifier

from freegens.cues import rare_class_cues
from freegens.domains_cli import main
from freegens.local_model import LocalDomainClassifier, build_pipeline, cross_validate
from freegens.offsets import MacroF1Offsets, choose_offsets, macro_f1_from_codes


def toy(n_major: int, n_rare: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two large classes and a small one lying between them, overlapping both: an unweighted linear model
    trained on it almost never predicts the small class."""
    rng = np.random.default_rng(seed)
    centres = {"a": (-2.0, 0.0), "b": (2.0, 0.0), "rare": (0.0, 0.9)}
    sizes = {"a": n_major, "b": n_major, "rare": n_rare}
    X = np.concatenate([rng.normal(centres[k], 1.0, size=(n, 2)) for k, n in sizes.items()])
    y = np.concatenate([[k] * n for k, n in sizes.items()]).astype(object)
    return X, y


def recall(y, pred, label):
    return float(np.mean(pred[y == label] == label))


def test_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    pred[pred == 3] = 0  # a class never predicted counts 0
    assert macro_f1_from_codes(y, pred, 5) == pytest.approx(
        f1_score(y, pred, labels=range(5), average="macro", zero_division=0))


def test_choose_offsets_raises_a_rare_class_and_keeps_zero_where_nothing_is_gained():
    # class 2's documents score a little under class 0: plain argmax never predicts it
    scores = np.array([[1.0, 0.0, 0.8]] * 5 + [[1.0, 0.0, 0.2]] * 45 + [[0.0, 1.0, 0.1]] * 50)
    y = np.array([2] * 5 + [0] * 45 + [1] * 50)
    assert macro_f1_from_codes(y, scores.argmax(1), 3) < 0.7
    offsets = choose_offsets(scores, y)
    assert 0.2 < offsets[2] - offsets[0] < 0.8  # just enough to move the five over, not the 45
    assert macro_f1_from_codes(y, (scores + offsets).argmax(1), 3) == 1.0
    assert offsets[1] == 0.0  # ties go to 0: class 1 is already right


def test_offsets_raise_rare_recall_on_held_out_data():
    X, y = toy(300, 30, seed=0)
    X_test, y_test = toy(300, 30, seed=1)
    plain = RidgeClassifier().fit(X, y)
    tuned = MacroF1Offsets(RidgeClassifier(), seed=0).fit(X, y)
    assert tuned.offsets["rare"] > tuned.offsets["a"] and tuned.offsets["rare"] > tuned.offsets["b"]
    assert recall(y_test, plain.predict(X_test), "rare") < 0.2
    assert recall(y_test, tuned.predict(X_test), "rare") > recall(y_test, plain.predict(X_test), "rare") + 0.2
    from sklearn.metrics import f1_score

    assert f1_score(y_test, tuned.predict(X_test), average="macro") > f1_score(y_test, plain.predict(X_test),
                                                                            average="macro")


class Seen(list):
    """Rows a :class:`Spy` saw; one list shared by all clones (sklearn's clone deep-copies parameters)."""

    def __deepcopy__(self, memo):
        return self


class Spy(ClassifierMixin, BaseEstimator):
    """A ridge classifier that records every row it is fitted on or asked to score in ``seen``."""

    def __init__(self, seen=None):
        self.seen = seen

    def fit(self, X, y):
        self.seen.extend(tuple(r) for r in X)
        self.model_ = RidgeClassifier().fit(np.asarray(X), y)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X):
        self.seen.extend(tuple(r) for r in X)
        return self.model_.decision_function(np.asarray(X))


def test_offsets_are_chosen_from_the_training_data_only():
    X, y = toy(100, 12, seed=2)
    X_test, _ = toy(100, 12, seed=3)
    seen = Seen()
    tuned = MacroF1Offsets(Spy(seen), seed=0).fit(list(X), y)
    train_rows = {tuple(r) for r in X}
    assert seen and set(seen) <= train_rows  # the inner CV and the refit saw training rows only
    n_seen = len(seen)
    tuned.predict(list(X_test))
    assert len(seen) == n_seen + len(X_test)  # predicting scores the new rows, it does not refit


def test_a_singleton_class_trains_but_keeps_offset_zero():
    X, y = toy(40, 6, seed=4)
    X = np.vstack([X, [[0.0, 5.0]]])
    y = np.append(y, "lonely")
    tuned = MacroF1Offsets(RidgeClassifier(), inner_folds=3, seed=0).fit(list(X), y)
    assert "lonely" in tuned.classes_ and tuned.offsets["lonely"] == 0.0


def test_cross_validation_chooses_offsets_inside_each_outer_fold(monkeypatch):
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    words = {"code": "def class import return self print", "web": "click buy shop price cart login",
             "media": "episode podcast video listen watch host"}
    texts, labels = [], []
    for label, n in (("code", 30), ("web", 30), ("media", 8)):
        vocab = words[label].split() + ["the", "and", "of", "to", "in"]
        texts += [" ".join(rng.choice(vocab, 30)) + f" doc{len(texts)}" for _ in range(n)]
        labels += [label] * n
    frame = pd.DataFrame({"text": texts, "label": labels})
    calls: list[set[str]] = []
    original = MacroF1Offsets.repeat_scores

    def spy(self, X, y):
        calls.append(set(X))
        return original(self, X, y)

    monkeypatch.setattr(MacroF1Offsets, "repeat_scores", spy)
    result = cross_validate(frame, folds=4, seed=3, objective="macro_f1")
    assert result["objective"] == "macro_f1" and result["macro_f1"] > 0.5
    outer = StratifiedKFold(4, shuffle=True, random_state=3).split(texts, labels)
    expected = [{texts[i] for i in train} for train, _ in outer]
    assert sorted(map(sorted, calls)) == sorted(map(sorted, expected))  # one call per outer training part


def test_cli_objective_macro_f1(labelled_csv, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(labelled_csv), "--output", str(out), "--objective", "macro_f1"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["objective"] == "macro_f1" and set(meta["offsets"]) == {"code", "reference", "incoherent"}
    assert LocalDomainClassifier.load(out).predict(["import os\nimport sys\n\ndef f(x):\n    return x\n"]) == ["code"]
    report = tmp_path / "cv.md"
    assert main(["cv", str(labelled_csv), "--folds", "3", "--objective", "macro_f1", "--output", str(report)]) == 0
    assert "--objective macro_f1" in report.read_text()
    plain = tmp_path / "plain"
    assert main(["train", str(labelled_csv), "--output", str(plain)]) == 0
    assert json.loads((plain / "model.json").read_text())["offsets"] is None  # default: shares, no offsets
    capsys.readouterr()
    bad = tmp_path / "bad"
    with pytest.raises(SystemExit) as err:
        main(["train", str(labelled_csv), "--output", str(bad), "--objective", "accuracy"])
    assert err.value.code == 2 and "invalid choice: 'accuracy'" in capsys.readouterr().err and not bad.exists()
    with pytest.raises(ValueError, match="objective must be one of"):
        build_pipeline(objective="accuracy")


def test_rare_class_cues_follow_the_definitions():
    names = ["repeated_3grams", "repeated_lines", "no_vowel_words", "non_ascii_letters", "mixed_scripts",
             "half_overlap", "media_marks", "speaker_turns", "ids_per_word", "key_value_lines", "numeric_lines"]
    prose = ("The committee met on Tuesday to discuss the budget for the new library. Members agreed that the "
             "library needs more funding for books and for staff, and the budget was approved for the library.")
    base = dict(zip(names, rare_class_cues(prose), strict=True))
    assert len(base) == 11 and base["repeated_3grams"] == 0 and base["media_marks"] == 0
    repeated = dict(zip(names, rare_class_cues("buy cheap pills now " * 30), strict=True))
    assert repeated["repeated_3grams"] > 0.9
    gibberish = dict(zip(names, rare_class_cues("xkcd qwrt zzpt brr hmm pfft grr tsk " * 5), strict=True))
    assert gibberish["no_vowel_words"] > 0.8
    mixed = dict(zip(names, rare_class_cues("The weather is nice. Погода сегодня хорошая. " * 3), strict=True))
    assert mixed["mixed_scripts"] > 0.3 and base["mixed_scripts"] == 0
    # two unrelated halves share fewer content words than one text on one subject
    run_together = ("The quarterback threw three touchdowns as the football team won the championship game. "
                    "Bake the bread dough for forty minutes until golden, then cool the loaves on a rack.")
    assert dict(zip(names, rare_class_cues(run_together), strict=True))["half_overlap"] < base["half_overlap"]
    subtitles = "1\n00:00:01,000 --> 00:00:03,500\n[Music]\n2\n00:00:04,000 --> 00:00:06,000\nHOST: Welcome back.\n"
    sub = dict(zip(names, rare_class_cues(subtitles), strict=True))
    assert sub["media_marks"] > 0.5 and sub["speaker_turns"] > 0
    pgn = '[Event "Casual"]\n[White "A"]\n[Black "B"]\n\n1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 4. Ba4 Nf6 5. O-O Be7'
    assert dict(zip(names, rare_class_cues(pgn), strict=True))["ids_per_word"] > 0.5
    records = "id: P001\nage: 54\nglucose: 5.6\nid: P002\nage: 61\nglucose: 7.1\n"
    rec = dict(zip(names, rare_class_cues(records), strict=True))
    assert rec["key_value_lines"] == 1.0 and rec["numeric_lines"] == 1.0
    assert rare_class_cues("") == [0.0] * 11
