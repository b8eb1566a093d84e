"""A plain re-statement of the paper's per-document keyword and dependency-parse definitions: the test oracle.

The fast taggers (``keywords.py``, ``parse.py``) read word lists from a data file, run a reduced spaCy pipeline
and compute everything with numpy arrays. This module says the same definitions the slow, obvious way, as the
paper's code does (its ``extract_keyword_features.py`` patterns written out literally; its
``get_dep_parse_features`` / ``get_const_parse_features`` loops and ``compute_parse_stats`` over spaCy
``Token`` objects of the *full* pipeline instead of stanza words), so that tests and
``benchmarks/bench_paper_features.py`` can check the fast taggers against it. It is not used to tag data.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

# The paper's patterns, copied as written in its extract_keyword_features.py (facts, not our choice).
PAPER_KEYWORD_PATTERNS: dict[str, str] = {
    "question_words": r"\b(How|What|Why|When|Where|Who|Which|Whose)\b",
    "imperative_verbs": r"\b(Do|Make|Consider|Take|Use|Ensure|Check|Build|Apply|Run|Create|Find|Go|Try|Turn|Start|"
                        r"Stop|Put|Keep|Leave|Get|Move)\b",
    "conjunctions": r"\b(and|but|or|so|because|although|however|therefore|yet)\b",
    "instructions_words": r"(Question:|Answer:|Instruction:|User:|Assistant:|Q:|A:)",
    "numbers": r"\b\d+\b|\b\d+\.\d+\b|\b\d+%\b",
}


def oracle_keyword_ratios(text: str) -> dict[str, float]:
    """``<name>_ratio`` = 100,000 * matches / characters, as the paper's ``get_keyword_ratios``."""
    total = len(text) or 1
    return {f"{k}_ratio": 100_000 * len(re.findall(p, text, flags=re.IGNORECASE)) / total
            for k, p in PAPER_KEYWORD_PATTERNS.items()}


def oracle_parse_features(doc) -> dict[str, Any]:
    """The paper's per-document parse statistics of one spaCy ``Doc`` parsed by the full pipeline.

    Words: the tokens of each sentence except whitespace tokens (stanza has none), ids from 1 per sentence.
    """
    dist_to_head: list[int] = []
    dist_to_root: list[int] = []
    num_words_sentence: list[int] = []
    pos: list[str] = []
    n_sentences = 0
    for sent in doc.sents:
        words = [t for t in sent if not t.is_space]
        if not words:
            continue
        n_sentences += 1

        # id of a word = 1 + the number of words before it in its sentence; a whitespace token (a head only
        # by a parser quirk) takes the id of the word before it
        ids, seen = {}, 0
        for t in sent:
            seen += not t.is_space
            ids[t.i] = seen

        root_id = ids[sent.root.i]
        for w in words:
            wid = ids[w.i]
            dist_to_head.append(0 if w.head.i == w.i else abs(wid - ids[w.head.i]))
            dist_to_root.append(abs(wid - root_id))
            num_words_sentence.append(len(words))
            pos.append(w.pos_)
    if not dist_to_head:
        return {}
    content = sum(1 for p in pos if p in {"NOUN", "VERB", "ADJ", "ADV"})
    return {
        "dep_parse_dep_head_dist_median": float(np.median(dist_to_head)),
        "dep_parse_dep_head_dist_90p": float(np.percentile(dist_to_head, 90)),
        "dep_parse_dep_head_dist_max": float(np.max(dist_to_head)),
        "dep_parse_dep_root_dist_median": float(np.median(dist_to_root)),
        "dep_parse_dep_root_dist_mean": float(np.mean(dist_to_root)),
        "dep_parse_dep_root_dist_max": float(np.max(dist_to_root)),
        "const_parse_num_sentences": float(n_sentences),
        "const_parse_num_words": float(len(pos)),
        "const_parse_words_per_sent_mean": float(np.mean(num_words_sentence)),
        "const_parse_words_per_sent_std": float(np.std(num_words_sentence)) if len(num_words_sentence) > 1 else 0.0,
        "content_function_ratio": content / len(pos),
    }


def compare_with_oracle(ours, oracle, features) -> list[dict[str, Any]]:
    """Per feature: documents both define, Pearson r, ratio of means (ours / oracle) and the largest difference.

    ``ours`` and ``oracle`` are DataFrames aligned row by row (one row per document).
    """
    rows = []
    for f in features:
        both = ours[f].notna() & oracle[f].notna()
        a = ours.loc[both, f].to_numpy(dtype=float)
        b = oracle.loc[both, f].to_numpy(dtype=float)
        if len(a) < 2:
            rows.append({"feature": f, "n": int(len(a)), "r": float("nan"), "mean_ratio": float("nan"),
                         "max_abs_diff": float("nan")})
            continue
        same = np.allclose(a, b) or (np.std(a) == 0 and np.std(b) == 0)
        r = 1.0 if same else float(np.corrcoef(a, b)[0, 1])
        ratio = float(a.mean() / b.mean()) if b.mean() != 0 else (1.0 if a.mean() == 0 else float("inf"))
        rows.append({"feature": f, "n": int(len(a)), "r": r, "mean_ratio": ratio,
                     "max_abs_diff": float(np.max(np.abs(a - b)))})
    return rows
