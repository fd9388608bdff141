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
                    if getattr(tensor._keras_history.layer, "is_mask_op", False):
                        continue  # a mask travels with its tensor; the ops are not drawn
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


def _skip_lanes(edges, rows):
    """Give each row-skipping edge a lane (0, 1, ...) so that edges whose row spans overlap get different lanes."""
    lanes, taken = {}, []   # taken: (top row, bottom row, lane)
    skipping = sorted((edge for edge in edges if rows[edge[1]] - rows[edge[0]] > 1),
                      key=lambda e: (rows[e[1]] - rows[e[0]], rows[e[0]]))
    for source, target in skipping:
        top, bottom = rows[source], rows[target]
        busy = {lane for t, b, lane in taken if t < bottom and top < b}
        lane = next(k for k in range(len(taken) + 1) if k not in busy)
        lanes[(source, target)] = lane
        taken.append((top, bottom, lane))
    return lanes


def route_edges(positions, boxes, edges, lane_gap=0.35, margin=0.3):
    """The polyline of each edge, ``{(source, target): [(x, y), ...]}``, in data coordinates.

    ``positions``: box centres (one row per unit of y, rows going down); ``boxes``:
    ``{name: (x0, y0, x1, y1)}``, each layer's drawn box. An edge between neighbouring rows goes
    straight from the bottom of its source box to the top of its target box. An edge that skips
    rows (a residual connection) runs down a lane to the right of every box on the rows it spans
    (``margin`` clear of them, ``lane_gap`` between lanes). It leaves its source from the right
    side, or, when another box stands to the right on that row, from the bottom through the gap
    between rows; it enters its target the same way. So it never runs behind a box.
    """
    rows = {name: -y for name, (_, y) in positions.items()}
    lanes = _skip_lanes(edges, rows)

    def clear_to_the_right(name):
        return not any(rows[other] == rows[name] and boxes[other][0] > boxes[name][2] for other in boxes)

    routes = {}
    for source, target in edges:
        (sx, sy), (tx, ty) = positions[source], positions[target]
        if (source, target) not in lanes:
            routes[(source, target)] = [(sx, boxes[source][1]), (tx, boxes[target][3])]
            continue
        passed = [box for name, box in boxes.items() if rows[source] <= rows[name] <= rows[target]]
        lane_x = max(box[2] for box in passed) + margin + lane_gap * lanes[(source, target)]
        start = [(boxes[source][2], sy), (lane_x, sy)] if clear_to_the_right(source) else \
            [(sx, boxes[source][1]), (sx, sy - 0.5), (lane_x, sy - 0.5)]
        end = [(lane_x, ty), (boxes[target][2], ty)] if clear_to_the_right(target) else \
            [(lane_x, ty + 0.5), (tx, ty + 0.5), (tx, boxes[target][3])]
        routes[(source, target)] = start + end
    return routes


def plot_model(model, to_file="model.png", show_shapes=True, dpi=100, **kwargs):
    """Draw ``model``'s layer graph and save it to ``to_file``; returns the matplotlib Figure.

    Edges between neighbouring rows are grey and straight; an edge that skips rows (a residual
    connection) is red and runs in a lane to the right of the boxes it passes (``route_edges``).
    The returned Figure carries ``layer_boxes`` (``{name: (x0, y0, x1, y1)}``) and ``edge_paths``
    (``{(source, target): [(x, y), ...]}``), in data coordinates, for inspection.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch
        from matplotlib.path import Path
    except ImportError as error:  # pragma: no cover - optional dependency
        raise ImportError("plot_model needs matplotlib: pip install matplotlib") from error
    positions, edges = layout(model)
    layers = {layer.name: layer for layer in _graph_edges(model)[0]}
    rows = {name: -y for name, (_, y) in positions.items()}
    lane_count = max(_skip_lanes(edges, rows).values(), default=-1) + 1
    lane_room = 0.9 + 0.35 * lane_count if lane_count else 0.0   # data units (about inches) for the lanes
    width = max(x for x, _ in positions.values()) - min(x for x, _ in positions.values()) + 1
    height = -min(y for _, y in positions.values()) + 1
    figure = Figure(figsize=(max(4.0, 3.2 * width) + lane_room, max(2.0, 1.1 * height)))
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    scale_x = 3.0
    xs = [x * scale_x for x, _ in positions.values()]
    axes.set_xlim(min(xs) - 2.2, max(xs) + 2.2 + lane_room)
    axes.set_ylim(min(y for _, y in positions.values()) - 0.6, 0.6)
    texts = {name: axes.text(x * scale_x, y, _label(layers[name], show_shapes), ha="center", va="center",
                             fontsize=8, zorder=3,
                             bbox=dict(boxstyle="round,pad=0.4", facecolor="#e8f0fe", edgecolor="#3367d6"))
             for name, (x, y) in positions.items()}
    canvas.draw()  # lays the text out, so each box's drawn extent is known
    to_data = axes.transData.inverted()
    boxes = {}
    for name, text in texts.items():
        extent = text.get_bbox_patch().get_window_extent(canvas.get_renderer())
        (x0, y0), (x1, y1) = to_data.transform([(extent.x0, extent.y0), (extent.x1, extent.y1)])
        boxes[name] = (float(x0), float(y0), float(x1), float(y1))
    centred = {name: (x * scale_x, y) for name, (x, y) in positions.items()}
    routes = route_edges(centred, boxes, edges)
    for (source, target), points in routes.items():
        skips = len(points) > 2
        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        axes.add_patch(FancyArrowPatch(path=Path(points, codes), arrowstyle="->", mutation_scale=10, lw=1.2,
                                       color="#c0392b" if skips else "#555555", zorder=2))
    figure.layer_boxes, figure.edge_paths = boxes, routes
    figure.savefig(to_file, dpi=dpi)
    return figure
