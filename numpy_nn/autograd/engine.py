"""Reverse-mode differentiation over the tape: ``backward()`` and ``grad()``.

Both walk the same graph. Starting from the output, the Tensors are ordered so that every
Tensor comes after all the Tensors computed from it (a topological order of the tape); then,
in that order, each creator Function's ``backward`` turns the gradient of its output into
gradients of its inputs, which are summed where a Tensor feeds several ops (the multivariate
chain rule). Broadcasting is undone in exactly one place, ``unbroadcast``.

Higher-order gradients. ``grad(..., create_graph=True)`` walks the same order, but every
gradient is a Tensor and each creator's ``tensor_backward`` (the same formula written with
Tensor ops, see ``function.py``) computes the input gradients, so the backward pass is itself
recorded on the tape. The gradients returned have a history: ``grad`` of them gives second
derivatives (Hessian-vector products, gradient penalties), and so on.
"""
import numpy as np

from .function import unbroadcast
from .tensor import Tensor


def _topological_order(output):
    """Tensors reachable from ``output`` through creators, each after everything it feeds."""
    order, visited = [], set()
    stack = [(output, False)]
    while stack:  # iterative DFS: deep nets would overflow Python's recursion limit
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._creator is not None:
            for parent in tensor._creator.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order[::-1]  # output first


def _seed(output, grad_output):
    if grad_output is None:
        if output.size != 1:
            raise ValueError(f"backward: output has shape {output.shape}; pass grad_output "
                             "for a non-scalar output (or reduce it to a scalar first)")
        return np.ones_like(output.data)
    grad_output = np.asarray(grad_output.data if isinstance(grad_output, Tensor) else grad_output,
                             dtype=output.dtype)
    if grad_output.shape != output.shape:
        raise ValueError(f"backward: grad_output has shape {grad_output.shape}, "
                         f"expected the output's shape {output.shape}")
    return grad_output


def _as_gradient(grad, parent, create_graph):
    """A gradient as the engine accumulates it: an ndarray, or a Tensor when ``create_graph``."""
    if not create_graph:
        return np.asarray(grad, dtype=parent.dtype)
    grad = grad if isinstance(grad, Tensor) else Tensor(np.asarray(grad, dtype=parent.dtype), _copy=False)
    return grad if grad.dtype == parent.dtype else grad.astype(parent.dtype)


def _propagate(output, grad_output, wanted=None, create_graph=False):
    """Return {id(tensor): gradient} for the tensors on the tape below ``output``.

    With ``wanted`` (a set of ids), only the part of the graph that leads to a wanted tensor is
    differentiated, and a Function is told (``needs_input_grad``) which inputs to skip.
    With ``create_graph``, gradients are Tensors computed by ``tensor_backward`` on the tape.
    """
    if not output.requires_grad:
        return {}
    order = _topological_order(output)
    if wanted is None:
        needed = {id(t) for t in order}
    else:  # a tensor is needed if it is wanted or one of its inputs is needed
        needed = set()
        for tensor in reversed(order):  # inputs before outputs
            creator = tensor._creator
            if id(tensor) in wanted or (creator is not None and any(id(p) in needed for p in creator.inputs)):
                needed.add(id(tensor))
    seed = _seed(output, grad_output)
    if create_graph:  # a Tensor grad_output keeps its history (a gradient of a gradient may depend on it)
        seed = grad_output if isinstance(grad_output, Tensor) and grad_output.dtype == seed.dtype else Tensor(seed)
    grads = {id(output): seed}
    for tensor in order:
        creator, grad = tensor._creator, grads.get(id(tensor))
        if creator is None or grad is None or id(tensor) not in needed:
            continue
        if wanted is not None and not any(id(p) in needed for p in creator.inputs):
            continue
        saved = creator.needs_input_grad
        creator.needs_input_grad = tuple(p.requires_grad and id(p) in needed for p in creator.inputs)
        try:
            if create_graph:
                input_grads = creator.tensor_backward(grad, tensor, *creator.inputs)
            else:
                input_grads = creator.backward(grad)
        finally:
            creator.needs_input_grad = saved
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(creator.inputs):
            raise RuntimeError(f"{type(creator).__name__}.backward returned {len(input_grads)} "
                               f"gradients for {len(creator.inputs)} inputs")
        for parent, parent_grad in zip(creator.inputs, input_grads):
            if parent_grad is None or not parent.requires_grad or id(parent) not in needed:
                continue
            parent_grad = unbroadcast(_as_gradient(parent_grad, parent, create_graph), parent.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
    return grads


def backward(output, grad_output=None):
    """Accumulate d(output)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    grads = _propagate(output, grad_output)
    for tensor in _topological_order(output) if grads else ():
        if (tensor.is_leaf or tensor.retains_grad) and id(tensor) in grads:
            g = grads[id(tensor)]
            tensor.grad = g.copy() if tensor.grad is None else tensor.grad + g


def _writable(array):
    """A gradient the caller may change in place: a fast kernel may hand back a read-only broadcast
    view (``Sum``'s gradient, one value for every element); that one is copied."""
    return array if array.flags.writeable else array.copy()


def grad(output, inputs, grad_output=None, create_graph=False):
    """Fresh gradients of ``output`` with respect to ``inputs`` (leaves *or* intermediate tensors).

    ``inputs`` is one Tensor or a list of them; the result has the same structure, each
    gradient a Tensor with no history (``np.asarray`` works on it). A tensor that ``output`` does
    not depend on gets zeros. ``.grad`` attributes are left untouched.

    ``create_graph=True``: the gradients are computed with Tensor operations on the tape, so
    they have a history and can be differentiated again (``grad_output`` may then be a Tensor
    with a history too). Hessian-vector product of a scalar loss L(w) along v:
    ``g = nn.grad(L, w, create_graph=True); hv = nn.grad((g * v).sum(), w)``.

    Example (Grad-CAM): ``features, logits = model_with_two_outputs(x)``;
    ``d_score_d_features = nn.grad(logits[:, k].sum(), features)``.
    """
    single = isinstance(inputs, Tensor)
    tensors = [inputs] if single else list(inputs)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be Tensors on the tape, got {type(t).__name__}")
    grads = _propagate(output, grad_output, wanted={id(t) for t in tensors}, create_graph=create_graph)
    result = [grads[id(t)] if create_graph and id(t) in grads
              else Tensor(_writable(grads[id(t)]) if id(t) in grads else np.zeros_like(t.data), _copy=False)
              for t in tensors]
    return result[0] if single else result
