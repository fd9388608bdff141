"""``model.summary()``: Keras 3's table, drawn with box characters, without the ``rich`` package.

    Model: "functional"
    ┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
    ┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
    ┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
    │ a (InputLayer)      │ (None, 3)         │          0 │ -                 │
    ...
     Total params: 47 (188.00 B)

The "Connected to" column appears only for graphs that are not a simple chain (several inputs,
branches, or shared layers), as in Keras. Column widths follow Keras (positions of the line
length) and the table shrinks the way ``rich`` shrinks a fixed-width table: the excess is taken
evenly from every column. Parameter counts are Keras's: every weight of the layer, trainable or
not; the total also counts the optimizer's variables once it has been built.
"""
import math
import shutil

import numpy as np


def _dtype_bits(dtype):
    return np.dtype(dtype).itemsize * 8


def weight_memory_size(weights):
    """Bytes taken by the unique weights."""
    unique = {id(w): w for w in weights}.values()
    return sum(math.prod(w.shape) * _dtype_bits(w.dtype) for w in unique) / 8


def readable_memory_size(size):
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def count_params(weights):
    return int(sum(math.prod(w.shape) for w in weights))


def format_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def format_layer_shape(layer):
    """The output shape of the layer's last call in the graph, "?" if it was never called."""
    if not layer._inbound_nodes:
        return "?"
    outputs = layer._inbound_nodes[-1].output_structure
    if getattr(outputs, "_is_symbolic", False):
        return format_shape(outputs.shape)
    from ..ops.node import flatten
    flat = flatten(outputs)
    if len(flat) == 1:
        return format_shape(flat[0].shape)
    if isinstance(outputs, dict):
        return "{" + ", ".join(f"{k}: {format_shape(v.shape)}" for k, v in outputs.items()) + "}"
    return "[" + ", ".join(format_shape(t.shape) for t in flat) + "]"


def class_name(layer):
    """The class name Keras shows: a plain functional ``Model`` is a "Functional"; a mask op its kind."""
    from .functional import Model
    if getattr(layer, "is_mask_op", False):
        return layer.kind
    if type(layer) is Model and layer._is_graph_network:
        return "Functional"
    return type(layer).__name__


def _is_sequential_like(model):
    if not model._is_graph_network or type(model).__name__ == "Sequential" or hasattr(model, "_stack"):
        return True
    from ..ops.node import flatten
    chain = []
    for nodes in model._graph.nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(flatten(nodes[0].input_tensors)) > 1):
            return False
        chain += nodes
    for layer in model.layers:  # a shared layer (two calls in this graph) breaks the chain
        if sum(node in chain for node in layer._inbound_nodes) > 1:
            return False
    return True


def _wrap(text, width):
    """Word-wrap like rich's table cells: break at spaces; a word longer than the cell gets a line
    of its own, cut with an ellipsis (``time_distributed…``)."""
    lines, current = [], ""
    for word in text.split(" "):
        if len(word) > width:
            if current:
                lines.append(current)
            lines.append(word[:width - 1] + "…")
            current = ""
            continue
        candidate = word if not current else f"{current} {word}"
        if len(candidate) <= width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current or not lines:  # a cut word ends the cell: no empty line after it
        lines.append(current)
    return lines


def _ratio_reduce(excess, widths):
    """Take ``excess`` characters from the columns evenly (rich's ratio_reduce with equal ratios)."""
    result, remaining, parts = [], excess, len(widths)
    for width in widths:
        take = min(width, round(remaining / parts))
        result.append(width - take)
        remaining -= take
        parts -= 1
    return result


def render_table(header, rows, widths, alignment, line_length):
    """A rich-style table (header box, a rule between rows) at most ``line_length`` wide."""
    cells = [w + 2 for w in widths]  # one space of padding each side
    available = line_length - (len(widths) + 1)
    if sum(cells) > available:
        cells = _ratio_reduce(sum(cells) - available, cells)
    inner = [c - 2 for c in cells]

    def rule(left, fill, middle, right):
        return left + middle.join(fill * c for c in cells) + right

    def row_lines(values, edge):
        wrapped = [_wrap(str(v), max(w, 1)) for v, w in zip(values, inner)]
        height = max(len(w) for w in wrapped)
        lines = []
        for k in range(height):
            parts = []
            for lines_of_cell, width, align in zip(wrapped, inner, alignment):
                text = lines_of_cell[k] if k < len(lines_of_cell) else ""
                text = text.rjust(width) if align == "right" else (
                    text.center(width) if align == "center" else text.ljust(width))
                parts.append(f" {text} ")
            lines.append(edge + edge.join(parts) + edge)
        return lines

    out = [rule("┏", "━", "┳", "┓")] + row_lines(header, "┃") + [rule("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            out.append(rule("├", "─", "┼", "┤"))
        out += row_lines(row, "│")
    out.append(rule("└", "─", "┴", "┘"))
    return out


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Print (or pass to ``print_fn`` as one string) the Keras 3 summary of ``model``."""
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        default_length, positions = 88, positions or [0.45, 0.80, 1.0]
        header, alignment = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
        relevant = model._graph.nodes
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width

    def connections(layer):
        parts = []
        for node in layer._inbound_nodes:
            if node not in relevant:
                continue
            for tensor in node.input_tensors:
                source, node_index, tensor_index = tensor._keras_history
                parts.append(f"{source.name}[{node_index}][{tensor_index}]")
        return ", ".join(parts) or "-"

    rows = []
    functional = model._is_graph_network and not hasattr(model, "_stack")  # Keras: a Functional lists its ops
    for layer in (model._graph.operations if functional else model.layers):
        if not layer.built:
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        row = [f"{layer.name} ({class_name(layer)})", format_layer_shape(layer), params]
        if not sequential_like:
            row.append(connections(layer))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(row)

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    trainable_count, non_trainable_count = count_params(trainable), count_params(non_trainable)
    trainable_size, non_trainable_size = weight_memory_size(trainable), weight_memory_size(non_trainable)
    optimizer = getattr(model, "optimizer", None)
    optimizer_vars = list(getattr(optimizer, "variables", []) or []) if optimizer is not None and \
        getattr(model, "compiled", False) and _optimizer_built(optimizer) else None
    total_count = trainable_count + non_trainable_count + (count_params(optimizer_vars) if optimizer_vars else 0)
    total_size = trainable_size + non_trainable_size + (weight_memory_size(optimizer_vars) if optimizer_vars else 0)

    lines = [f'Model: "{model.name}"']
    lines += render_table(header, rows, widths, alignment, line_length)
    lines.append(f" Total params: {total_count:,} ({readable_memory_size(total_size)})")
    lines.append(f" Trainable params: {trainable_count:,} ({readable_memory_size(trainable_size)})")
    lines.append(f" Non-trainable params: {non_trainable_count:,} ({readable_memory_size(non_trainable_size)})")
    if optimizer_vars is not None:
        lines.append(f" Optimizer params: {count_params(optimizer_vars):,} "
                     f"({readable_memory_size(weight_memory_size(optimizer_vars))})")
    text = "\n".join(lines) + "\n"
    if print_fn is None:
        print(text, end="")
    else:
        print_fn(text)


def _optimizer_built(optimizer):
    built = getattr(optimizer, "built", None)
    if built is not None:
        return bool(built)
    return len(getattr(optimizer, "variables", []) or []) > 2
