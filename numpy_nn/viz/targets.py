"""What to explain: one score per sample, computed from the model's outputs on the tape.

Every explanation in ``numpy_nn.viz`` differentiates one number per sample, y[n]. It comes from

* ``class_index=`` / ``output=`` (the default): the pre-softmax logit of class k of one output
  (``ClassScore(k, output)``; k = the predicted class when None);
* ``target=``: any callable ``target(outputs) -> Tensor (N,)``. It receives the outputs *as
  the model returns them* -- a Tensor, a list or a dict of Tensors, on the tape -- so it can
  combine them freely with Tensor arithmetic, e.g. ``target=lambda outs: -outs["price"][:, 0]``
  explains what lowers the price.

The ready-made targets are ``Target`` objects; called on outputs they behave like any callable
(``ClassScore(2)(outputs)`` reads the outputs given to it). Inside the viz methods they are
evaluated through ``score(view)`` with a ``tape.ModelOutputs`` view, which gives ``ClassScore``
the logits entering a softmax and lets every target name an output:

    ClassScore(index, output=None)       y = z_k                   (z: logits of the output)
    Regression(direction, output=None)   y = sum_d direction_d * o_d   (o: the output (N,) or (N, D))
    Similarity(reference=None, first=0, second=1, metric="cosine")
                                         y = sim(e1, e2): two embedding outputs of a siamese model,
                                         or one output against a fixed reference embedding
"""
import numpy as np

from ..autograd.tensor import Tensor
from . import tape


class Target:
    """Base class: ``score(view)`` -> Tensor (N,), one score per sample, on the tape."""

    output = None

    def score(self, view):
        raise NotImplementedError(f"{type(self).__name__} must implement score() (abstract in the base class)")

    def resolve(self, view):
        """A target with every data-dependent choice fixed on ``view`` (ClassScore: the argmax class).

        Methods that evaluate the target at several perturbed inputs (SmoothGrad, integrated
        gradients, Score-CAM) resolve it once, on the clean input.
        """
        return self

    def confidence(self, view):
        """(N,) NumPy: the score as a confidence (ClassScore: the softmax probability); Score-CAM uses it."""
        return np.asarray(self.score(view).data, dtype=np.float64)

    def __call__(self, outputs):
        return self.score(tape.ModelOutputs(_Unnamed(), outputs))


class _Unnamed:
    name = "model"
    output_names = None


class ClassScore(Target):
    """The pre-softmax logit of class ``index`` of one output (its value when it has no softmax).

        y[n] = z[n, k_n]        z = the logits entering the output's softmax, (N, classes)

    ``index``: an int, one int per sample, or None (each sample's predicted class, fixed by
    ``resolve``). ``output``: a name or index; None for a model with one output.
    """

    def __init__(self, index=None, output=None):
        self.index, self.output = index, output
        self.chosen = None

    def _scores(self, view):
        logits = view.logits(self.output)
        if logits.ndim != 2:
            name = view.names[view.index(self.output)]
            raise ValueError(f"ClassScore: output '{name}' has shape {tuple(logits.shape)}; class scores need "
                             "(batch, classes). For a regression output use targets.Regression or a target=")
        return logits

    def resolve(self, view):
        resolved = ClassScore(tape.choose_classes(self._scores(view), self.index), self.output)
        resolved.chosen = resolved.index
        return resolved

    def score(self, view):
        logits = self._scores(view)
        chosen = tape.choose_classes(logits, self.index)
        self.chosen = chosen
        return logits[np.arange(logits.shape[0]), chosen]

    def confidence(self, view):
        """softmax(z)[n, k_n] (the output itself when it is a softmax, up to rounding)."""
        z = np.asarray(self._scores(view).data, dtype=np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return p[np.arange(len(p)), tape.choose_classes(self._scores(view), self.index)]

    def __repr__(self):
        return f"ClassScore(index={self.index!r}, output={self.output!r})"


class Regression(Target):
    """A regression output pushed in one direction: y[n] = sum_d direction_d * o[n, d].

    ``direction``: +1 (or "increase") explains what raises the output, -1 (or "decrease")
    what lowers it; a vector (D,) weights the D values of a multi-valued output.
    """

    def __init__(self, direction=1.0, output=None):
        if isinstance(direction, str):
            if direction not in ("increase", "decrease"):
                raise ValueError(f"Regression: direction must be a number, a vector, 'increase' or 'decrease'; "
                                 f"received {direction!r}")
            direction = 1.0 if direction == "increase" else -1.0
        self.direction, self.output = np.asarray(direction, dtype=np.float64), output

    def score(self, view):
        values = view.output(self.output)
        if values.ndim == 1:
            values = values.reshape(values.shape[0], 1)
        if values.ndim != 2:
            raise ValueError(f"Regression: the output has shape {tuple(values.shape)}; expected (batch,) or "
                             "(batch, values)")
        width = values.shape[1]
        if self.direction.ndim == 0:
            if width != 1:
                raise ValueError(f"Regression: the output has {width} values per sample; pass a direction "
                                 f"vector of length {width}")
            return values[:, 0] * float(self.direction)
        if self.direction.shape != (width,):
            raise ValueError(f"Regression: direction has shape {self.direction.shape}; the output has {width} "
                             f"values per sample, so ({width},) is expected")
        return (values * Tensor(self.direction.astype(values.dtype))).sum(axis=1)

    def __repr__(self):
        return f"Regression(direction={self.direction.tolist()!r}, output={self.output!r})"


class Similarity(Target):
    """How similar two embeddings are (siamese models), one score per pair.

    Without ``reference``: outputs ``first`` and ``second`` of the model are the two embeddings
    e1, e2 (N, D). With ``reference`` (D,) or (N, D): output ``first`` against that fixed
    embedding. ``metric``:

        "cosine"    y = sum(e1 e2) / sqrt(sum(e1^2) sum(e2^2) + 1e-12)
        "dot"       y = sum(e1 e2)
        "distance"  y = -sum((e1 - e2)^2)        (higher = closer)
    """

    METRICS = ("cosine", "dot", "distance")

    def __init__(self, reference=None, first=0, second=1, metric="cosine"):
        if metric not in self.METRICS:
            raise ValueError(f"Similarity: metric must be one of {self.METRICS}; received {metric!r}")
        self.reference = None if reference is None else np.asarray(reference)
        self.first, self.second, self.metric = first, second, metric

    def score(self, view):
        a = view.output(self.first)
        b = view.output(self.second) if self.reference is None else Tensor(self.reference.astype(a.dtype))
        if a.ndim != 2 or b.shape[-1] != a.shape[-1]:
            raise ValueError(f"Similarity: embeddings must be (batch, dim) with the same dim; received "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        if self.metric == "distance":
            difference = a - b
            return -(difference * difference).sum(axis=1)
        dot = (a * b).sum(axis=1)
        if self.metric == "dot":
            return dot
        return dot / ((a * a).sum(axis=1) * (b * b).sum(axis=-1) + 1e-12).sqrt()

    def __repr__(self):
        return f"Similarity(first={self.first!r}, second={self.second!r}, metric={self.metric!r})"


class CallableTarget(Target):
    """A user's callable ``fn(outputs) -> Tensor (N,)``, given the outputs as the model returns them."""

    def __init__(self, function):
        self.function = function

    def score(self, view):
        return self.function(view.returned)

    def __repr__(self):
        return f"CallableTarget({getattr(self.function, '__name__', self.function)!r})"


def make_target(class_index=None, output=None, target=None):
    """The Target for a method's ``class_index`` / ``output`` / ``target`` arguments."""
    if target is None:
        return ClassScore(class_index, output)
    if class_index is not None or output is not None:
        raise ValueError("Pass either class_index= / output= or target=, not both (a target chooses its own "
                         "output: ClassScore(index, output=...))")
    if isinstance(target, Target):
        return target
    if not callable(target):
        raise TypeError(f"target must be a callable outputs -> Tensor (N,) or a targets.Target; received "
                        f"{type(target).__name__}")
    return CallableTarget(target)


def evaluate(target, view, batch_size):
    """``target.score(view)``, checked: a Tensor of shape (batch_size,) on the tape."""
    value = target.score(view)
    if not isinstance(value, Tensor):
        raise TypeError(f"target {target!r} returned a {type(value).__name__}; it must return a Tensor of "
                        f"shape ({batch_size},) computed from the outputs (on the tape), one score per sample")
    if tuple(value.shape) != (batch_size,):
        raise ValueError(f"target {target!r} returned shape {tuple(value.shape)}; expected ({batch_size},): one "
                         f"score per sample (reduce each sample's outputs to a number, e.g. outs[:, k])")
    return value


__all__ = ["Target", "ClassScore", "Regression", "Similarity", "CallableTarget", "make_target", "evaluate"]
