"""Filtering of degenerate generations and text normalisation (function level and ``njsl freegens filter``)."""
from __future__ import annotations

import json

import pytest

from freegens.cli import main
from freegens.filtering import FilterConfig, duplicate_ngram_fraction, longest_word_run, normalise_text, \
    rejection_reason

GOOD = ("The committee met on Tuesday to discuss the budget for next year. Several members raised concerns "
        "about the cost of the new library, while others argued that it would serve the town for decades.")


def test_normalisation_fixes_mojibake_and_applies_nfkc():
    assert normalise_text("  donâ€™t  ") == "don't"
    assert normalise_text("ＡＢＣ ﬁne") == "ABC fine"


@pytest.mark.parametrize("text,reason", [
    ("too short", "too_short"),
    ("", "too_short"),
    ("It was " + "very " * 12 + "good indeed and the rest of the sentence is fine.", "word_repeat"),
    ("\n".join(["the same line is here again"] * 5 + ["and one different line at the end of it"]),
     "duplicate_lines"),
    ("First paragraph here with words.\n\n" + "Second paragraph repeated with words.\n\n" * 3
     + "end with more words", "duplicate_paragraphs"),
    ("one two three four five six " * 4 + "and then something else entirely", "ngram_repetition"),
    (GOOD, None),
])
def test_rejection_reasons(text, reason):
    assert rejection_reason(text, FilterConfig()) == reason


def test_helpers():
    assert longest_word_run(["a", "b", "b", "B", "b", "c"]) == 4
    assert duplicate_ngram_fraction(["a", "b", "c", "a", "b", "c"], 3) == 1.0
    assert duplicate_ngram_fraction(["a", "b", "c", "d", "e", "f"], 3) == 0.0


def test_thresholds_are_flags():
    text = "yes " * 12 + "and more words to make this long enough for the check"
    assert rejection_reason(text, FilterConfig()) == "word_repeat"
    assert rejection_reason(text, FilterConfig(max_word_repeat=20, max_dup_ngram_frac=1.0)) is None


def _gens(path, texts):
    with open(path, "w") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"doc_id": i, "resps": [[t]], "filtered_resps": [t]}) + "\n")


def test_filter_cli_counts_and_layout(tmp_path, capsys):
    gens = tmp_path / "gens.jsonl"
    _gens(gens, [GOOD, "short", "la " * 40, GOOD.replace("budget", "budgetâ€™s")])
    out, rej, rep = tmp_path / "kept.jsonl", tmp_path / "rej.jsonl", tmp_path / "report.json"
    assert main(["filter", "--input", str(gens), "--output", str(out), "--rejected", str(rej),
                 "--report", str(rep)]) == 0
    assert "kept 2 of 4 generation(s); dropped: too_short: 1, word_repeat: 1" in capsys.readouterr().out
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [k["doc_id"] for k in kept] == [0, 3]
    assert kept[1]["resps"][0][0].count("budget's") == 1 and kept[1]["filtered_resps"] == kept[1]["resps"][0]
    rejected = [json.loads(line) for line in rej.read_text().splitlines()]
    assert [r["filter_reason"] for r in rejected] == ["too_short", "word_repeat"]
    assert json.loads(rep.read_text())["dropped"]["too_short"] == 1


def test_filter_cli_bad_threshold_writes_nothing(tmp_path, capsys):
    gens = tmp_path / "gens.jsonl"
    _gens(gens, [GOOD])
    out = tmp_path / "kept.jsonl"
    assert main(["filter", "--input", str(gens), "--output", str(out), "--max_dup_line_frac", "1.5"]) == 2
    assert "--max_dup_line_frac must be between 0 and 1" in capsys.readouterr().err
    assert not out.exists()


def test_filter_cli_missing_input(tmp_path, capsys):
    assert main(["filter", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "input not found" in capsys.readouterr().err
