"""Naive loop oracles for loss ops: slow, obviously correct, used only by the tests."""
import itertools
import math


def ctc_by_paths(logits, label, blank=0):
    """-log of the total probability of every frame-by-frame path that collapses to ``label``
    (merge repeated symbols, then drop blanks), enumerating all C^T paths of one sample.

    ``logits``: T rows of C scores (softmaxed here); ``label``: a list without blanks.
    """
    probs = []
    for row in logits:
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        probs.append([e / sum(exps) for e in exps])
    total = 0.0
    for path in itertools.product(range(len(logits[0])), repeat=len(logits)):
        collapsed = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        if [s for s in collapsed if s != blank] == list(label):
            p = 1.0
            for t, s in enumerate(path):
                p *= probs[t][s]
            total += p
    return -math.log(total)
