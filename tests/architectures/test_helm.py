"""HELM's hierarchical cross-entropy: the tree, the loss against a re-statement of its definition, edge cases."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from pretraining.models.helm import (HelmError, amino_acid_index, codon_hierarchy, codon_prediction_counts,
                                     flat_hierarchy, genetic_code, hierarchical_cross_entropy, hierarchy_for_tokenizer,
                                     start_codons)
from tokenization.kmer import parse_kmer_name

VOCAB = parse_kmer_name("3mer").vocabulary()
RNA_VOCAB = parse_kmer_name("3mer-rna").vocabulary()
V = len(VOCAB)


def test_genetic_code_is_the_standard_table():
    code = genetic_code()
    assert len(code) == 64
    assert sorted(c for c, aa in code.items() if aa == "*") == ["TAA", "TAG", "TGA"]
    assert start_codons() == ("ATG",)
    degeneracy = Counter(code.values())
    assert degeneracy == {"L": 6, "S": 6, "R": 6, "A": 4, "G": 4, "P": 4, "T": 4, "V": 4, "I": 3, "*": 3,
                          "F": 2, "Y": 2, "C": 2, "H": 2, "Q": 2, "N": 2, "K": 2, "D": 2, "E": 2, "M": 1, "W": 1}
    assert code["ATG"] == "M" and code["TGG"] == "W" and code["AGA"] == "R" and code["GAT"] == "D"


def _explicit_hxe(logits: torch.Tensor, target: int, vocab: list[str], alpha: float) -> float:
    """Our re-statement: walk root → group → amino acid → codon with Python sums of probabilities."""
    p = torch.softmax(logits.double(), -1).tolist()
    code = genetic_code()
    tok = vocab[target].replace("U", "T")
    ids = {t.replace("U", "T"): i for i, t in enumerate(vocab) if len(t) == 3}

    def mass(codons):
        return sum(p[ids[c]] for c in codons)

    if len(tok) != 3:  # a non-codon token hangs from the root: plain cross-entropy
        return -math.log(p[target])
    aa = code[tok]
    if tok == "ATG":
        chain = [["ATG"], ["ATG"]]
    elif aa == "*":
        chain = [[c for c, a in code.items() if a == "*"], [tok]]
    else:
        coding = [c for c, a in code.items() if a != "*" and c != "ATG"]
        chain = [coding, [c for c, a in code.items() if a == aa and c != "ATG"], [tok]]
    loss, parent = 0.0, 1.0
    for d, node in enumerate(chain):
        loss += math.exp(-alpha * d) * -math.log(mass(node) / parent)
        parent = mass(node)
    return loss


@pytest.mark.parametrize("vocab", [VOCAB, RNA_VOCAB], ids=["3mer", "3mer-rna"])
def test_matches_the_definition(vocab):
    torch.manual_seed(0)
    hier = codon_hierarchy(vocab)
    logits = torch.randn(40, V, dtype=torch.float64) * 2
    targets = torch.randint(0, V, (40,))
    rna = "U" in "".join(vocab)
    targets[:4] = torch.tensor([vocab.index(t.replace("T", "U") if rna else t) for t in ("ATG", "TAA", "GCT")]
                               + [vocab.index("<|pad|>")])
    for alpha in (0.0, 0.2, 0.6, 2.0):
        got = hierarchical_cross_entropy(logits, targets, hier, alpha)
        want = sum(_explicit_hxe(logits[i], int(targets[i]), vocab, alpha) for i in range(40))
        assert got.item() == pytest.approx(want, rel=1e-10)


def test_flat_hierarchy_and_alpha_zero_are_cross_entropy():
    torch.manual_seed(1)
    logits, targets = torch.randn(3, 7, V), torch.randint(0, V, (3, 7))
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="sum")
    for alpha in (0.0, 0.2, 5.0):
        assert hierarchical_cross_entropy(logits, targets, flat_hierarchy(V), alpha).item() == pytest.approx(ce.item(),
                                                                                                           rel=1e-5)
    assert hierarchical_cross_entropy(logits, targets, codon_hierarchy(VOCAB), 0.0).item() == pytest.approx(
        ce.item(), rel=1e-5)


def _logits_with(mass: dict[int, float]) -> torch.Tensor:
    probs = torch.full((V,), 1e-9, dtype=torch.float64)
    for i, p in mass.items():
        probs[i] = p
    return probs.log()


def test_synonymous_mistake_costs_less_at_equal_leaf_probability():
    hier = codon_hierarchy(VOCAB)
    target, synonym, other = VOCAB.index("GCT"), VOCAB.index("GCC"), VOCAB.index("TGG")  # Ala, Ala, Trp
    t = torch.tensor([target])
    syn = _logits_with({target: 0.4, synonym: 0.6})
    non = _logits_with({target: 0.4, other: 0.6})
    assert torch.softmax(syn, -1)[target] == pytest.approx(torch.softmax(non, -1)[target].item())
    for alpha in (0.2, 0.4, 0.6):
        assert hierarchical_cross_entropy(syn[None], t, hier, alpha) < hierarchical_cross_entropy(non[None], t, hier,
                                                                                                   alpha)
    # plain cross-entropy cannot tell the two mistakes apart
    assert hierarchical_cross_entropy(syn[None], t, hier, 0.0).item() == pytest.approx(
        hierarchical_cross_entropy(non[None], t, hier, 0.0).item())


def test_large_alpha_keeps_only_the_top_level():
    hier = codon_hierarchy(VOCAB)
    torch.manual_seed(2)
    logits = torch.randn(1, V, dtype=torch.float64)
    target = torch.tensor([VOCAB.index("GCT")])
    coding = [i for i, tok in enumerate(VOCAB) if len(tok) == 3 and genetic_code()[tok] != "*" and tok != "ATG"]
    top = -torch.logsumexp(torch.log_softmax(logits[0], -1)[coding], 0)
    assert hierarchical_cross_entropy(logits, target, hier, 60.0).item() == pytest.approx(top.item(), rel=1e-9)


def test_gradient_matches_finite_differences():
    hier = codon_hierarchy(VOCAB)
    torch.manual_seed(3)
    logits = torch.randn(6, V, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([VOCAB.index(t) for t in ("GCT", "ATG", "TAG", "TGG", "CTA")] + [-100])
    assert torch.autograd.gradcheck(lambda x: hierarchical_cross_entropy(x, targets, hier, 0.3), (logits,))


def test_ignored_positions_never_count():
    hier = codon_hierarchy(VOCAB)
    torch.manual_seed(4)
    logits = torch.randn(2, 5, V, requires_grad=True)
    targets = torch.randint(5, V, (2, 5))
    targets[0, 3:] = -100  # padding / unmasked positions
    loss = hierarchical_cross_entropy(logits, targets, hier, 0.2)
    loss.backward()
    assert torch.all(logits.grad[0, 3:] == 0)
    changed = logits.detach().clone()
    changed[0, 3:] = torch.randn(2, V) * 100
    assert hierarchical_cross_entropy(changed, targets, hier, 0.2).item() == pytest.approx(loss.item())
    kept = targets != -100
    assert loss.item() == pytest.approx(hierarchical_cross_entropy(logits[kept], targets[kept], hier, 0.2).item())


@pytest.mark.parametrize("name", ["6mer", "nuc", "3mer-missing-folder", None])
def test_non_codon_tokenizer_is_a_clear_error(name):
    with pytest.raises(HelmError, match="model.helm"):
        hierarchy_for_tokenizer(name, 100)


def test_output_smaller_than_the_codon_vocabulary_is_a_clear_error():
    from pretraining.models.helm import HelmLoss

    with pytest.raises(HelmError, match="model.vocab_size: 10 is smaller"):
        hierarchy_for_tokenizer("3mer", 10)
    with pytest.raises(HelmError, match="model.vocab_size: 10 is smaller"):
        HelmLoss.for_tokenizer("3mer")(torch.zeros(2, 10), torch.zeros(2, dtype=torch.long))


def test_codon_tokenizer_folder_and_names(tmp_path):
    from tokenization.kmer import save_kmer_tokenizer

    folder = save_kmer_tokenizer("3mer-rna", tmp_path / "tok")
    a, b = hierarchy_for_tokenizer(str(folder), V + 3), hierarchy_for_tokenizer("3mer", V)
    assert a.vocab_size == V + 3

    def named(h, v):
        return [h.node_names[n] for n in h.paths[v]]

    assert all(named(a, v) == named(b, v) for v in range(V))  # RNA and DNA codons sit at the same places
    assert named(b, VOCAB.index("GCT")) == ["coding", "A", str(VOCAB.index("GCT"))]
    assert a.paths[V + 2].tolist() == [V + 2] * a.depth  # padded/extra ids hang from the root


def test_codon_prediction_counts():
    aa = amino_acid_index(V, VOCAB)
    gct, gcc, tgg = VOCAB.index("GCT"), VOCAB.index("GCC"), VOCAB.index("TGG")
    logits = torch.stack([_logits_with({gcc: 0.9}), _logits_with({gct: 0.9}), _logits_with({gct: 0.9}),
                          _logits_with({gct: 0.9})]).float()
    labels = torch.tensor([gct, gct, tgg, 2])  # synonymous miss, hit, non-synonymous miss, a special token
    counts = codon_prediction_counts(logits, labels, aa)
    assert counts["n"] == 3 and counts["codon_correct"] == 1 and counts["aa_correct"] == 2


def test_objective_for_binds_helm_and_changes_the_loss():
    """The bug this replaces: `helm: true` was ignored, so HELM and cross-entropy runs had identical losses."""
    from pretraining.config import ModelConfig
    from pretraining.models.objectives import get_objective, objective_for
    from pretraining.models.registry import build_model

    base = dict(dimension=32, num_layers=1, num_heads=2, ffn_hidden_size=64, vocab_size=V, sequence_length=16)
    torch.manual_seed(0)
    model = build_model(ModelConfig(**base))
    tokens = torch.randint(9, V, (2, 17))
    tokens[1, 10:] = -1  # padding
    ce, n = objective_for(ModelConfig(**base), "3mer")(model, tokens)
    assert objective_for(ModelConfig(**base), "3mer") is get_objective("clm")
    helm0, n0 = objective_for(ModelConfig(**base, helm=True, helm_alpha=0.0), "3mer")(model, tokens)
    helm, n1 = objective_for(ModelConfig(**base, helm=True, helm_alpha=0.4), "3mer")(model, tokens)
    assert int(n) == int(n0) == int(n1) == 2 * 16 - 7
    assert helm0.item() == pytest.approx(ce.item(), rel=1e-6)
    assert helm.item() < ce.item() - 1e-3


def test_synthetic_coding_sequences_and_their_ceiling():
    from pretraining.data.synthetic_mrna import optimal_next_codon, synthetic_coding_sequences

    seqs = synthetic_coding_sequences(20, seed=1, min_codons=5, max_codons=9)
    code = genetic_code()
    for s in seqs:
        codons = [s[i:i + 3] for i in range(0, len(s), 3)]
        assert len(s) % 3 == 0 and 7 <= len(codons) <= 11
        assert codons[0] == "ATG" and code[codons[-1]] == "*" and all(code[c] != "*" for c in codons[1:-1])
    assert synthetic_coding_sequences(3, seed=1, rna=True) == [s.replace("T", "U") for s in
                                                                synthetic_coding_sequences(3, seed=1)]
    assert synthetic_coding_sequences(3, seed=1, offset=1) != synthetic_coding_sequences(3, seed=1)
    best = optimal_next_codon(1)
    assert 0 < best["codon_accuracy"] <= best["amino_acid_accuracy"] <= 1 and 1 < best["codon_perplexity"] < 61
