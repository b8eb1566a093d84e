"""Synthetic coding sequences for tests and the HELM benchmark (no real mRNA is shipped).

Each sequence is ``ATG`` + ``n`` sense codons + a stop codon. The amino acids follow a first-order Markov chain
with a random (Dirichlet) transition matrix, so the next amino acid is partly predictable from context; each
amino acid picks its codon from a skewed codon-usage table (Dirichlet), so synonymous codons are not
interchangeable either. Both tables come from ``seed``: train and held-out sequences drawn with the same
``seed`` and different ``offset`` share the "organism" but not the sequences.
"""
from __future__ import annotations

import numpy as np

from pretraining.models.helm import STOP, genetic_code


def _tables(seed: int, concentration_aa: float, concentration_codon: float):
    code = genetic_code()
    amino = sorted({aa for aa in code.values() if aa != STOP})
    rng = np.random.default_rng(seed)
    transition = rng.dirichlet([concentration_aa] * len(amino), size=len(amino))
    usage = {}
    for aa in [*amino, STOP]:
        codons = sorted(c for c, a in code.items() if a == aa)
        usage[aa] = (codons, rng.dirichlet([concentration_codon] * len(codons)))
    return amino, transition, usage


def synthetic_coding_sequences(n: int, *, seed: int = 0, offset: int = 0, min_codons: int = 30,
                               max_codons: int = 60, rna: bool = False, concentration_aa: float = 0.3,
                               concentration_codon: float = 0.7) -> list[str]:
    """``n`` nucleotide strings (``ACGT``, or ``ACGU`` with ``rna``) from the seed's organism.

    ``offset`` selects a disjoint stream of sequences (e.g. 0 for training, 1 for held-out).
    """
    amino, transition, usage = _tables(seed, concentration_aa, concentration_codon)
    rng = np.random.default_rng([seed, offset + 1])
    out = []
    for _ in range(n):
        length = int(rng.integers(min_codons, max_codons + 1))
        aa = int(rng.integers(len(amino)))
        codons = ["ATG"]
        for _ in range(length):
            names, probs = usage[amino[aa]]
            codons.append(names[int(rng.choice(len(names), p=probs))])
            aa = int(rng.choice(len(amino), p=transition[aa]))
        names, probs = usage[STOP]
        codons.append(names[int(rng.choice(len(names), p=probs))])
        seq = "".join(codons)
        out.append(seq.replace("T", "U") if rna else seq)
    return out


def optimal_next_codon(seed: int = 0, concentration_aa: float = 0.3, concentration_codon: float = 0.7
                       ) -> dict[str, float]:
    """The ceiling for next-codon prediction inside a sequence of the seed's organism (the true model).

    The next codon's distribution given the previous codon is ``Σ_b T[a, b] · usage_b(c)`` (a: the previous
    amino acid). Returns its perplexity, the accuracy of its arg-max and how often that arg-max encodes the right
    amino acid, averaged over the chain's stationary distribution of ``a`` (first codon, stop and end of sequence
    positions are not included).
    """
    amino, transition, usage = _tables(seed, concentration_aa, concentration_codon)
    code = genetic_code()
    weight = np.full(len(amino), 1 / len(amino))
    for _ in range(500):
        weight = weight @ transition
    entropy, accuracy, aa_accuracy = [], [], []
    for i in range(len(amino)):
        dist: dict[str, float] = {}
        for j, b in enumerate(amino):
            for codon, p in zip(*usage[b], strict=True):
                dist[codon] = dist.get(codon, 0.0) + transition[i, j] * p
        probs = np.array(list(dist.values()))
        entropy.append(float(-(probs * np.log(probs)).sum()))
        best = max(dist, key=dist.__getitem__)
        accuracy.append(dist[best])
        aa_accuracy.append(sum(p for c, p in dist.items() if code[c] == code[best]))
    return {"codon_perplexity": float(np.exp(weight @ entropy)), "codon_accuracy": float(weight @ accuracy),
            "amino_acid_accuracy": float(weight @ aa_accuracy)}
