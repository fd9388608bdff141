"""Small public helpers: seeding and drawing a model's layer graph."""
from .config import set_random_seed


def plot_model(model, to_file="model.png", show_shapes=True, **kwargs):
    """Draw the layer graph with matplotlib (no Graphviz) and save it to ``to_file``."""
    from .models.plot import plot_model as _plot_model
    return _plot_model(model, to_file, show_shapes=show_shapes, **kwargs)


__all__ = ["set_random_seed", "plot_model"]
