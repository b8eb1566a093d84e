"""Reply normalisation, the cascade's prompts, and the domain/language features."""
from __future__ import annotations

import math

import pytest

from freegens.features import DOMAIN_FEATURES, domain_features
from freegens.taxonomy import LABELS, STAGES, build_messages, feature_domain, normalise_reply, parse_choice, \
    parse_yes_no

FINAL = STAGES[-1].choices


@pytest.mark.parametrize("reply,expected", [
    ("Yes", True), ("yes.", True), ("**YES**", True), ("Answer: yes, it is code.", True), ("  y ", True),
    ("No", False), ("no, it is not", False), ("NO.", False), ("`no`", False),
    ("", None), (None, None), ("Maybe", None), ("I cannot tell", None),
])
def test_parse_yes_no(reply, expected):
    assert parse_yes_no(reply) is expected


@pytest.mark.parametrize("reply,expected", [
    ("books", "books"), ("Books.", "books"), ("**Reference**", "reference"), ("Specific Datasets", "specific_datasets"),
    ("specific-datasets", "specific_datasets"), ("SPECIFIC_DATASETS", "specific_datasets"),
    ("The answer is: web.", "web"), ("Category: media (transcript)", "media"), ("unknown", "unknown"),
    ("fiction", "books"), ("I do not know", None), ("", None),
])
def test_parse_choice(reply, expected):
    assert parse_choice(reply, FINAL) == expected


def test_normalise_reply_strips_markup_and_case():
    assert normalise_reply("**Yes!** It's CODE.") == ["yes", "it", "s", "code"]


def test_stages_follow_the_paper_cascade():
    assert [s.name for s in STAGES] == ["incoherent", "code", "web", "academic", "final"]
    assert [s.label for s in STAGES[:4]] == ["incoherent", "code", "web", "academic"]
    assert set(FINAL) == {"books", "reference", "media", "specific_datasets", "web", "unknown"}
    assert set(LABELS) == {"web", "code", "academic", "books", "reference", "media", "specific_datasets",
                           "incoherent", "unknown"}
    msgs = build_messages(STAGES[1], "print(1)")
    assert msgs[0]["role"] == "system" and "<text>\nprint(1)\n</text>" in msgs[1]["content"]
    assert "yes or no" in msgs[1]["content"]
    assert "specific_datasets" in build_messages(STAGES[-1], "x")[1]["content"]


def test_feature_domain_folds_media_and_drops_non_domains():
    assert feature_domain("media") == "reference"
    assert feature_domain("code") == "code"
    assert feature_domain("incoherent") is None and feature_domain("unknown") is None


def test_domain_features_percentages():
    labels = ["web", "web", "code", "media", "reference", "incoherent", "unknown", "academic"]
    langs = ["en", "en", "en", "de", "en", "unknown", "en", "fr"]
    f = domain_features(labels, langs)
    assert set(f) == set(DOMAIN_FEATURES) | {"pct_english_mean"}
    # 6 documents have a content domain: web 2, code 1, reference 2 (media folded), academic 1
    assert f["domain_web_pct_mean"] == pytest.approx(100 * 2 / 6)
    assert f["domain_reference_pct_mean"] == pytest.approx(100 * 2 / 6)
    assert f["domain_code_pct_mean"] == pytest.approx(100 / 6)
    assert f["domain_books_pct_mean"] == 0.0
    assert sum(f[k] for k in DOMAIN_FEATURES) == pytest.approx(100.0)
    assert f["pct_english_mean"] == pytest.approx(100 * 5 / 8)


def test_domain_features_missing_not_zero():
    f = domain_features(["incoherent", "unknown"], ["en", "de"])
    assert all(math.isnan(f[k]) for k in DOMAIN_FEATURES)
    assert f["pct_english_mean"] == 50.0
    assert math.isnan(domain_features([], [])["pct_english_mean"])


def test_feature_names_match_the_paper_csv(shared):
    import pandas as pd

    from njsl.paths import generation_features_csv

    columns = set(pd.read_csv(generation_features_csv(), nrows=1).columns)
    assert set(DOMAIN_FEATURES) | {"pct_english_mean"} <= columns


def test_detect_language():
    """freegens' language column comes from the taggers' detector: one English decision per run."""
    from data_tagging.language import EnglishDetector, lingua_language

    langs = ("en", "de", "fr")
    detector = EnglishDetector(languages=langs)
    assert detector.detect("The cat sat on the mat and looked at the birds outside.").language == "en"
    assert detector.detect("Die Katze sitzt auf der Matte und schaut die Vögel an.").language == "de"
    assert detector.detect("   ").language == "unknown"
    # the lingua stage alone decides text without English function words (terse technical English too)
    assert lingua_language("Kubernetes cluster autoscaling configuration reference", langs) == "en"
    assert lingua_language("Die Katze sitzt auf der Matte.", langs) == "de"
