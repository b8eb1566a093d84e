"""HELM's hierarchical cross-entropy over the codon tree (Yazdani-Jahromi et al., ICLR 2025, arXiv 2410.12459).

The tree (as in HELM's reference code, ``create_tree.py``)::

    root ─┬─ start ── ATG
          ├─ coding ─┬─ A ── GCT GCC GCA GCG
          │          ├─ ...   (one node per amino acid, its synonymous codons as leaves)
          │          └─ Y ── TAT TAC
          ├─ stop ── TAA TAG TGA
          └─ every other token (special tokens, single nucleotides, unused ids) as a leaf of the root

ATG is methionine's only codon and the start node's leaf, so ``coding`` has 19 amino-acid children (HELM's
reference tree does the same); for amino-acid accuracy ATG still counts as M. The amino acids come from the
standard genetic code, shipped as data (``genetic_code.csv``, NCBI translation table 1).

The loss of a target leaf ``c`` with ancestors ``root = C_0, C_1, ..., C_L = c`` is::

    HXE(c) = sum_{d=1..L}  w_d · −log p(C_d | C_{d−1}),     p(C) = sum of the softmax over C's leaves,
    w_d    = exp(−alpha · (d − 1))

(Bertinetto et al. 2020, "Making Better Mistakes"; HELM applies it to codons). ``d`` is the node's distance
from the root: the finer the level, the smaller its weight, so a larger alpha puts more of the loss on getting
the group right and a synonymous mistake costs less than a non-synonymous one. Bertinetto et al. call this
quantity the node's height; both reference implementations compute it as the distance from the root, and it is
the only reading under which a larger alpha makes mistakes "better" (measured from the leaves it would make a
non-synonymous mistake the cheaper one). Our weights are the reference's ``exp(−alpha·d)`` times the constant
``exp(alpha)`` (the reference further divides by the sum of all edge weights, another constant): the top level
has weight 1, so with alpha = 0 — or any alpha over a flat tree — the loss is exactly cross-entropy, and HELM
losses stay on the cross-entropy scale. alpha → ∞ keeps only the top level: the loss becomes −log p(start |
coding | stop | the special token), i.e. the model is trained only to tell coding codons from start/stop, with
no signal for which amino acid or codon. HELM's default (its ``--hxe-alpha``) is 0.2; its README suggests 0.2,
0.4 and 0.6.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from pretraining.config import ConfigError

GENETIC_CODE_FILE = Path(__file__).with_name("genetic_code.csv")
PAPER_ALPHA = 0.2  # HELM reference implementation's default --hxe-alpha
STOP = "*"
CODON_TOKENIZERS = ("3mer", "3mer-rna")


class HelmError(ConfigError):
    """HELM cannot be used as configured (e.g. the tokenizer has no codon tokens); the message names the field."""


@functools.lru_cache(maxsize=1)
def _code_rows() -> tuple[tuple[str, ...], ...]:
    """The data rows of ``genetic_code.csv`` (codon, amino_acid, three_letter, start), read once."""
    lines = [ln for ln in GENETIC_CODE_FILE.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    rows = tuple(tuple(ln.split(",")) for ln in lines[1:])  # the first is the header
    if len(rows) != 64 or len({r[0] for r in rows}) != 64:
        raise HelmError(f"{GENETIC_CODE_FILE}: expected 64 distinct codons, found {len(rows)} rows")
    return rows


def genetic_code() -> dict[str, str]:
    """DNA codon → one-letter amino acid (``*`` for stop), from ``genetic_code.csv`` (64 rows)."""
    return {row[0]: row[1] for row in _code_rows()}


def start_codons() -> tuple[str, ...]:
    """Codons marked ``start`` in ``genetic_code.csv`` (ATG)."""
    return tuple(row[0] for row in _code_rows() if row[3] == "1")


@dataclass(frozen=True)
class Hierarchy:
    """A tree over the ``vocab_size`` output ids, in the tensors the loss needs.

    Nodes ``0..vocab_size-1`` are the leaves (token ids); internal nodes follow. ``members[n]`` marks the leaves
    under node ``n``; ``paths[v]`` lists the nodes from depth 1 down to leaf ``v``, padded with ``v`` itself
    (a padded step contributes −log p(v | v) = 0).
    """

    node_names: tuple[str, ...]
    members: torch.Tensor  # bool [n_nodes, vocab_size]
    paths: torch.Tensor  # long [vocab_size, depth]

    @property
    def vocab_size(self) -> int:
        return self.members.shape[1]

    @property
    def depth(self) -> int:
        return self.paths.shape[1]

    def weights(self, alpha: float) -> torch.Tensor:
        """Per-level weights ``exp(−alpha·(d−1))`` for d = 1..depth (float64, on the CPU)."""
        return torch.exp(-alpha * torch.arange(self.depth, dtype=torch.float64))


def build_hierarchy(vocab_size: int, tree: Mapping[str, object]) -> Hierarchy:
    """A :class:`Hierarchy` from a nested mapping ``{node name: [leaf ids] or {child name: ...}}``.

    Ids the tree does not mention become leaves of the root. An id given twice or outside the vocabulary
    raises :class:`HelmError`.
    """
    names = [str(i) for i in range(vocab_size)]
    member_rows: list[list[int]] = []
    paths: dict[int, list[int]] = {}

    def visit(node: object, ancestors: list[int]) -> list[int]:
        leaves: list[int] = []
        items = node.items() if isinstance(node, Mapping) else [(None, node)]
        for name, child in items:
            if name is None:  # a list of leaf ids
                for leaf in child:  # type: ignore[union-attr]
                    if not isinstance(leaf, int) or not 0 <= leaf < vocab_size:
                        raise HelmError(f"hierarchy: leaf {leaf!r} is not a token id below {vocab_size}")
                    if leaf in paths:
                        raise HelmError(f"hierarchy: token id {leaf} appears twice")
                    paths[leaf] = [*ancestors, leaf]
                    leaves.append(leaf)
                continue
            index = vocab_size + len(member_rows)
            names.append(str(name))
            member_rows.append([])
            under = visit(child, [*ancestors, index])
            member_rows[index - vocab_size] = under
            leaves += under
        return leaves

    visit(tree, [])
    for leaf in range(vocab_size):
        paths.setdefault(leaf, [leaf])
    depth = max(len(p) for p in paths.values())
    members = torch.zeros(vocab_size + len(member_rows), vocab_size, dtype=torch.bool)
    members[torch.arange(vocab_size), torch.arange(vocab_size)] = True
    for row, leaves in enumerate(member_rows):
        members[vocab_size + row, leaves] = True
    path_tensor = torch.tensor([paths[v] + [v] * (depth - len(paths[v])) for v in range(vocab_size)])
    return Hierarchy(tuple(names), members, path_tensor)


def flat_hierarchy(vocab_size: int) -> Hierarchy:
    """Every token a leaf of the root: hierarchical cross-entropy is then plain cross-entropy."""
    return build_hierarchy(vocab_size, {})


def codon_tree(vocab: Sequence[str]) -> dict[str, object]:
    """HELM's tree over a vocabulary (list of token strings by id): start / coding → amino acids / stop."""
    code, starts = genetic_code(), set(start_codons())
    ids = {tok.upper().replace("U", "T"): i for i, tok in enumerate(vocab) if len(tok) == 3}
    missing = [c for c in code if c not in ids]
    if missing:
        raise HelmError(f"model.helm: the tokenizer lacks codon tokens {missing[:4]}...; HELM needs a codon "
                        f"tokenizer ({' or '.join(CODON_TOKENIZERS)})")
    coding: dict[str, list[int]] = {}
    for codon, aa in code.items():
        if codon not in starts and aa != STOP:
            coding.setdefault(aa, []).append(ids[codon])
    return {"start": [ids[c] for c in code if c in starts],
            "coding": dict(sorted(coding.items())),
            "stop": [ids[c] for c, aa in code.items() if aa == STOP]}


def codon_hierarchy(vocab: Sequence[str], vocab_size: int | None = None) -> Hierarchy:
    """HELM's :class:`Hierarchy` for ``vocab``; ids beyond it (``vocab_size`` larger) are root leaves."""
    if vocab_size is not None and vocab_size < len(vocab):
        raise HelmError(f"model.vocab_size: {vocab_size} is smaller than the codon vocabulary ({len(vocab)})")
    return build_hierarchy(vocab_size or len(vocab), codon_tree(vocab))


def tokenizer_vocabulary(tokenizer: str | None) -> list[str]:
    """Token strings by id of a codon tokenizer (a k-mer name or a saved k-mer tokenizer folder).

    No tokenizer, or anything that is not a 3-mer (codon) tokenizer, raises :class:`HelmError` naming the field.
    """
    from tokenization.kmer import KmerSpecError, is_kmer_name, parse_kmer_name

    if not tokenizer:
        raise HelmError("model.helm: true needs data.tokenizer (3mer or 3mer-rna) to build the codon tree")
    why = (f"model.helm: true needs a codon tokenizer ({' or '.join(CODON_TOKENIZERS)}); data.tokenizer is "
           f"{tokenizer!r}")
    name = tokenizer
    if not is_kmer_name(tokenizer):
        config = Path(tokenizer) / "tokenizer_config.json"
        try:
            name = json.loads(config.read_text(encoding="utf-8")).get("kmer_spec") or ""
        except (OSError, json.JSONDecodeError):
            raise HelmError(why) from None
    try:
        spec = parse_kmer_name(name)
    except KmerSpecError:
        raise HelmError(why) from None
    if spec.k != 3:
        raise HelmError(why)
    return spec.vocabulary()


def hierarchy_for_tokenizer(tokenizer: str | None, vocab_size: int | None = None) -> Hierarchy:
    """HELM's hierarchy over the model's output ids for a codon tokenizer (clear error for any other)."""
    return codon_hierarchy(tokenizer_vocabulary(tokenizer), vocab_size)


def hierarchical_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, hierarchy: Hierarchy, alpha: float,
                               ignore_index: int = -100) -> torch.Tensor:
    """Sum over the positions whose label is not ``ignore_index`` of HELM's loss (see the module docstring).

    ``logits`` [..., V] (half-precision logits are upcast to float32), ``labels`` [...]. Returns a scalar sum, so
    callers divide by the number of scored positions like the cross-entropy objectives do.
    """
    flat = logits.reshape(-1, logits.size(-1))
    if flat.dtype != torch.float64:  # bf16/fp16 logits: float32 log-softmax (float64 stays, for gradient checks)
        flat = flat.float()
    target = labels.reshape(-1)
    keep = target != ignore_index
    logp = torch.log_softmax(flat[keep], dim=-1)
    target = target[keep]
    device = logp.device
    path = hierarchy.paths.to(device)[target]  # [n, depth]
    # log-membership: 0 for a node's leaves, -inf elsewhere; log p(node) = logsumexp over its leaves
    members = hierarchy.members.to(device)
    log_member = torch.zeros(members.shape, device=device, dtype=logp.dtype).masked_fill_(~members, float("-inf"))
    node_logp = torch.logsumexp(logp[:, None, :] + log_member[path], dim=-1)  # [n, depth]
    parent_logp = torch.nn.functional.pad(node_logp[:, :-1], (1, 0))  # the root has log p = 0
    weights = hierarchy.weights(alpha).to(device=device, dtype=node_logp.dtype)
    return ((parent_logp - node_logp) * weights).sum()


def amino_acid_index(vocab_size: int, vocab: Sequence[str]) -> torch.Tensor:
    """Per token id: an amino-acid class (0..20, stop included; ATG → M), or −1 for non-codon tokens."""
    code = genetic_code()
    classes = sorted(set(code.values()))
    out = torch.full((vocab_size,), -1, dtype=torch.long)
    for i, tok in enumerate(vocab):
        aa = code.get(tok.upper().replace("U", "T")) if len(tok) == 3 else None
        if aa is not None:
            out[i] = classes.index(aa)
    return out


@torch.no_grad()
def codon_prediction_counts(logits: torch.Tensor, labels: torch.Tensor, aa_index: torch.Tensor,
                            ignore_index: int = -100) -> dict[str, float]:
    """Counts for codon-level metrics over the positions whose target is a codon.

    Returns ``n`` (positions), ``ce_sum`` (summed cross-entropy, for perplexity), ``codon_correct`` (argmax is
    the target codon) and ``aa_correct`` (argmax codon encodes the target's amino acid, stop counted as one).
    """
    flat, target = logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1)
    aa_index = aa_index.to(flat.device)
    keep = (target != ignore_index) & (aa_index[target.clamp(min=0)] >= 0)
    flat, target = flat[keep], target[keep]
    pred = flat.argmax(-1)
    ce = torch.nn.functional.cross_entropy(flat, target, reduction="sum")
    return {"n": float(target.numel()), "ce_sum": float(ce), "codon_correct": float((pred == target).sum()),
            "aa_correct": float((aa_index[pred] == aa_index[target]).sum())}


class HelmLoss:
    """A ``token_loss`` (see :mod:`pretraining.models.objectives`): HELM's loss over a codon vocabulary.

    The hierarchy is built for the model's output size (extra ids hang from the root) and kept per device.
    """

    def __init__(self, vocab: Sequence[str], alpha: float = PAPER_ALPHA):
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
            raise HelmError(f"model.helm_alpha: expected a number >= 0, got {alpha!r}")
        self.vocab, self.alpha = list(vocab), float(alpha)
        codon_tree(self.vocab)  # fail now, not at the first step, when the vocabulary has no codons
        self._cache: dict[tuple[int, str], Hierarchy] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer: str | None, alpha: float = PAPER_ALPHA) -> HelmLoss:
        """The loss for a codon tokenizer (``3mer``, ``3mer-rna`` or such a saved folder); other tokenizers fail."""
        return cls(tokenizer_vocabulary(tokenizer), alpha)

    def hierarchy(self, vocab_size: int, device: torch.device) -> Hierarchy:
        key = (vocab_size, str(device))
        if key not in self._cache:
            h = codon_hierarchy(self.vocab, vocab_size)
            self._cache[key] = Hierarchy(h.node_names, h.members.to(device), h.paths.to(device))
        return self._cache[key]

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return hierarchical_cross_entropy(logits, labels, self.hierarchy(logits.size(-1), logits.device), self.alpha)


def check_helm(model_cfg, tokenizer: str | None) -> None:
    """At config load: ``helm: true`` needs a codon tokenizer (checked when the tokenizer is known) and a
    token-level objective (clm or mlm); raises :class:`HelmError` naming the field."""
    if not getattr(model_cfg, "helm", False):
        return
    if model_cfg.objective not in ("clm", "mlm"):
        raise HelmError(f"model.helm: HELM's loss applies to the clm and mlm objectives, not {model_cfg.objective!r}")
    if tokenizer:
        HelmLoss.for_tokenizer(tokenizer, model_cfg.helm_alpha)
