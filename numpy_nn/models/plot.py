"""``plot_model``: draw the layer graph with matplotlib (no Graphviz needed).

Each layer is a box ("name (Class)" and, with ``show_shapes``, its output shape); arrows follow
the graph's connections. Rows are depths: a layer sits one row below the deepest layer feeding
it, so parallel branches end up side by side on the same row and merges below them.
"""
from ..ops.node import flatten


def _graph_edges(model):
    """(layer names in graph order, [(source name, target name)]) for a functional or Sequential model."""
    if getattr(model, "_is_graph_network", False):
        layers = model._graph.layers
        nodes = model._graph.nodes
        edges = []
        for layer in layers:
            for node in layer._inbound_nodes:
                if node not in nodes:
                    continue
                for tensor in node.input_tensors:
                    edge = (tensor._keras_history.layer.name, layer.name)
                    if edge not in edges:
                        edges.append(edge)
        return layers, edges
    layers = list(model.layers)
    return layers, [(a.name, b.name) for a, b in zip(layers, layers[1:])]


def layout(model):
    """Positions ``{layer name: (x, y)}`` (row r at y = -r) and the list of edges."""
    layers, edges = _graph_edges(model)
    row = {}
    for layer in layers:  # graph order: every layer after the layers that feed it
        parents = [source for source, target in edges if target == layer.name]
        row[layer.name] = 1 + max((row[p] for p in parents if p in row), default=-1)
    by_row = {}
    for layer in layers:
        by_row.setdefault(row[layer.name], []).append(layer.name)
    positions = {}
    for r, names in by_row.items():
        for i, name in enumerate(names):
            positions[name] = (i - (len(names) - 1) / 2.0, -float(r))
    return positions, edges


def _label(layer, show_shapes):
    from .summary import class_name
    text = f"{layer.name} ({class_name(layer)})"
    if show_shapes and layer._inbound_nodes:
        outputs = flatten(layer._inbound_nodes[-1].output_structure)
        shapes = ", ".join(str(tuple(t.shape)) for t in outputs)
        text += f"\n{shapes}"
    return text


def plot_model(model, to_file="model.png", show_shapes=True, dpi=100, **kwargs):
    """Draw ``model``'s layer graph and save it to ``to_file``; returns the matplotlib Figure."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - optional dependency
        raise ImportError("plot_model needs matplotlib: pip install matplotlib") from error
    positions, edges = layout(model)
    layers = {layer.name: layer for layer in _graph_edges(model)[0]}
    width = max(x for x, _ in positions.values()) - min(x for x, _ in positions.values()) + 1
    height = -min(y for _, y in positions.values()) + 1
    figure = Figure(figsize=(max(4.0, 3.2 * width), max(2.0, 1.1 * height)))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    scale_x = 3.0
    for source, target in edges:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        # an edge that skips rows (a residual connection) bends to the side so it stays visible
        skips = y0 - y1 > 1.5
        style = "arc3,rad=-0.45" if skips else "arc3"
        axes.annotate("", xy=(x1 * scale_x, y1 + 0.25), xytext=(x0 * scale_x, y0 - 0.25),
                      arrowprops=dict(arrowstyle="->", color="#c0392b" if skips else "#555555", lw=1.2,
                                      connectionstyle=style))
    for name, (x, y) in positions.items():
        axes.text(x * scale_x, y, _label(layers[name], show_shapes), ha="center", va="center", fontsize=8,
                  bbox=dict(boxstyle="round,pad=0.4", facecolor="#e8f0fe", edgecolor="#3367d6"))
    xs = [x * scale_x for x, _ in positions.values()]
    axes.set_xlim(min(xs) - 2.2, max(xs) + 2.2)
    axes.set_ylim(min(y for _, y in positions.values()) - 0.6, 0.6)
    figure.savefig(to_file, dpi=dpi)
    return figure
