"""The "subclass builds the graph" pattern: a Model subclass with its own constructor arguments.

``ResidualMLP(width, blocks)`` creates its Input, stacks residual blocks (Dense -> Dense, added
to the block input) and calls ``super().__init__(inputs, outputs)``, so it is a full functional
model: ``summary()`` shows the graph, ``get_layer`` finds the blocks, ``fit`` trains it.

Run:  python examples/subclass_model.py [--quick]
"""
import argparse

import numpy as np

from numpy_nn import optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Add
from numpy_nn.models import Input, Model


class ResidualMLP(Model):
    def __init__(self, n_features, width=16, blocks=2, n_outputs=1, name="residual_mlp"):
        inputs = Input((n_features,), name="features")
        x = Dense(width, activation="relu", name="stem")(inputs)
        for i in range(blocks):
            h = Dense(width, activation="relu", name=f"block{i}_a")(x)
            h = Dense(width, name=f"block{i}_b")(h)
            x = Add(name=f"block{i}_add")([x, h])
        outputs = Dense(n_outputs, name="head")(x)
        super().__init__(inputs, outputs, name=name)
        self.width, self.blocks = width, blocks


def main(quick=False):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (400 if quick else 2000, 3)).astype("float32")
    y = (np.sin(x[:, :1]) * x[:, 1:2] + 0.5 * x[:, 2:3] ** 2).astype("float32")
    model = ResidualMLP(3, width=16, blocks=2)
    lines = []
    model.summary(print_fn=lines.append)
    summary = "".join(lines)
    print(summary, end="")
    model.compile(optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=10 if quick else 40, validation_split=0.2, verbose=0)
    print(f"val_loss: first epoch {history.history['val_loss'][0]:.4f}, last {history.history['val_loss'][-1]:.4f}")
    return {"history": history.history, "summary": summary, "params": model.count_params()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
