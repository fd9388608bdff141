"""The ten ``nn.applications`` families: parameters, weight-file size and load time.

For each family, at Keras's default size (the ImageNet input, classifier included):

1. build it with random weights (``weights=None``) and write them with ``model.save_weights("x.h5")``,
   i.e. in Keras 2's legacy weights-only layout, the layout of the files Keras publishes;
2. time ``nn.applications.X(weights="x.h5")`` (what ``weights="imagenet"`` does once the file is
   in the cache), split into building the graph (which initializes every weight randomly first,
   as Keras does) and loading the file in topological order (``model.load_weights``);
3. check that the reloaded model predicts exactly what the original predicts.

No network is used and no Keras is needed. ``--quick`` uses each family's smallest input and 10
classes (seconds instead of minutes; the files are then much smaller than Keras's).

Run:  python examples/applications_load_times.py [--quick] [--families VGG16,ResNet50] [--out DIR]
"""
import argparse
import os
import time

import numpy as np

import numpy_nn as nn

FAMILIES = {  # name -> (keyword arguments, smallest input size)
    "VGG16": ({}, 32), "VGG19": ({}, 32), "ResNet50": ({}, 32), "ResNet50V2": ({}, 32), "MobileNet": ({}, 32),
    "MobileNetV2": ({}, 32), "Xception": ({}, 71), "InceptionV3": ({}, 75), "DenseNet121": ({}, 32),
    "EfficientNetB0": ({}, 32),
}


def measure(name, out_dir, quick=False):
    """Build ``name`` with random weights, save them as a legacy .h5, time the reload. Returns a dict."""
    kwargs, small = FAMILIES[name]
    builder = getattr(nn.applications, name)
    shape = dict(input_shape=(small, small, 3), classes=10) if quick else {}
    original = builder(weights=None, **shape, **kwargs)
    path = os.path.join(out_dir, f"{name.lower()}_random.h5")
    original.save_weights(path)
    start = time.perf_counter()
    reloaded = builder(weights=None, **shape, **kwargs)
    built = time.perf_counter()
    reloaded.load_weights(path)
    loaded = time.perf_counter()
    size = original.input_shape[1]
    x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
    max_diff = float(np.max(np.abs(reloaded.predict(x, verbose=0) - original.predict(x, verbose=0))))
    row = {"family": name, "parameters": original.count_params(), "input": size,
           "file_mb": os.path.getsize(path) / 1e6, "build_s": built - start, "load_s": loaded - built,
           "max_abs_diff": max_diff}
    os.remove(path)
    return row


def main(quick=False, families=None, out_dir="examples_output/applications_load_times"):
    """Measure each family (all ten by default); print and return the rows."""
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    print(f"{'family':15s} {'input':>5s} {'parameters':>12s} {'file MB':>8s} {'build s':>8s} {'load s':>7s} "
          f"{'max |diff|':>10s}")
    for name in families or FAMILIES:
        row = measure(name, out_dir, quick)
        rows.append(row)
        print(f"{name:15s} {row['input']:5d} {row['parameters']:12,d} {row['file_mb']:8.1f} "
              f"{row['build_s']:8.2f} {row['load_s']:7.2f} {row['max_abs_diff']:10.1e}")
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--families", default=None, help="comma-separated, e.g. VGG16,ResNet50")
    parser.add_argument("--out", default="examples_output/applications_load_times")
    arguments = parser.parse_args()
    main(quick=arguments.quick, families=arguments.families.split(",") if arguments.families else None,
         out_dir=arguments.out)
