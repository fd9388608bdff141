"""Early stopping and ReduceLROnPlateau on a small CNN (scikit-learn's 8x8 handwritten digits).

EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True) ends training when the
validation loss stops improving and puts back the best epoch's weights; ReduceLROnPlateau halves
the learning rate after one epoch without improvement (History gains a ``learning_rate`` key).
The time per epoch is printed.

Run:  python examples/callbacks_small_cnn.py [--quick]
"""
import argparse
import time

import numpy as np

from numpy_nn import callbacks, optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import load_digits, split
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.normalization import BatchNormalization
from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from numpy_nn.layers.core import Activation
from numpy_nn.models import Input, Sequential


def build_model(size):
    return Sequential([
        Input((size, size, 1), name="image"),
        Conv2D(8, 3, padding="same", use_bias=False, name="conv1"),
        BatchNormalization(name="bn1"),
        Activation("relu", name="relu1"),
        MaxPooling2D(name="pool1"),
        Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        MaxPooling2D(name="pool2"),
        GlobalAveragePooling2D(name="gap"),
        Dense(10, activation="softmax", name="classes"),
    ], name="small_cnn")


class EpochTimer(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main(quick=False):
    set_random_seed(0)
    size = 8
    x, y = load_digits(as_images=True)
    (images, labels), (test_images, test_labels) = split(x, y, fractions=(0.8, 0.2), seed=0)
    if quick:
        images, labels = images[:400], labels[:400]
    model = build_model(size)
    model.compile(optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                       restore_best_weights=True)
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    history = model.fit(images, labels, batch_size=32, epochs=6 if quick else 40, validation_split=0.2,
                        callbacks=[timer, stopper, reducer], verbose=0)
    loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    seconds_per_epoch = float(np.mean(timer.seconds))
    print(f"epochs run: {len(history.epoch)} (stopped at epoch {stopper.stopped_epoch}), "
          f"learning rates: {history.history.get('learning_rate')}")
    print(f"test accuracy {accuracy:.3f}, {seconds_per_epoch:.2f} s per epoch "
          f"({len(images) * 0.8:.0f} training images of {size}x{size})")
    return {"history": history.history, "epochs_run": len(history.epoch), "test_accuracy": accuracy,
            "test_loss": loss, "seconds_per_epoch": seconds_per_epoch, "stopped_epoch": stopper.stopped_epoch}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
