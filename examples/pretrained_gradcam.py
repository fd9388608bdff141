"""Where does a pretrained VGG16 look? Grad-CAM on an image you give, without Keras.

The course chapter, step by step, in numpy_nn:

1. Build VGG16 (``nn.applications.VGG16``) with Keras's published ImageNet weights
   (``--weights imagenet``: Keras's own 528 MB file, downloaded once, MD5-checked and cached in
   ``$NUMPY_NN_HOME/models``, default ``~/.numpy_nn/models``) or with a weights file you already
   have (``--weights vgg16_weights_tf_dim_ordering_tf_kernels.h5``, or any legacy ``.h5``,
   ``.weights.h5`` or ``.keras`` file of the same architecture).
2. Read the image, resize it to the network's input (224x224), and preprocess it the way VGG16
   was trained (``nn.applications.vgg16.preprocess_input``: RGB -> BGR, minus the mean pixel).
3. Predict; with the ImageNet weights, name the top classes (``decode_predictions``).
4. Grad-CAM (``nn.viz.grad_cam``) on ``block5_conv3``, the last convolution (14x14x512)::

       alpha_k = mean over (i, j) of d y_c / d A[i, j, k]      (y_c: the top class's logit)
       heatmap = max(0, sum_k alpha_k A[:, :, k]) / max(...)

   and save the heatmap over the original image (``nn.viz.overlay``) as ``gradcam.png``.

Run:  python examples/pretrained_gradcam.py IMAGE [--weights imagenet|PATH] [--out DIR] [--layer block5_conv3]
      python examples/pretrained_gradcam.py --quick [IMAGE]     # offline, in seconds
``--quick`` needs no network and no weights: it writes a VGG16 with random weights for 32x32
inputs and 10 classes as a legacy ``.h5`` file (Keras 2's weights-only layout), loads it back
through ``weights=path`` exactly as a real file would load, and explains a synthetic image
(``nn.datasets.make_shapes``) when no image is given. The heatmap then shows where an untrained
network looks, which is the point of the sanity check in Adebayo et al. (2018), not a result.
"""
import argparse
import os
import time

import numpy as np

import numpy_nn as nn


def load_image(path, size):
    """The image at ``path`` as RGB uint8 (H, W, 3), and resized to (size, size) for the network."""
    from PIL import Image
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        original = np.asarray(rgb)
        resized = np.asarray(rgb.resize((size, size), Image.BILINEAR))
    return original, resized


def main(image_path=None, weights="imagenet", out_dir="examples_output/pretrained_gradcam", layer_name="block5_conv3",
         input_size=224, classes=1000, top=3, quick=False):
    """Build VGG16, classify the image, save the Grad-CAM overlay. Returns a dict of the results.

    ``quick=True``: random weights for 32x32 inputs and 10 classes, saved and reloaded as a legacy
    .h5 file (no network); a synthetic image when ``image_path`` is None.
    """
    os.makedirs(out_dir, exist_ok=True)
    if quick:
        input_size, classes = 32, 10
        weights = os.path.join(out_dir, "vgg16_random_weights.h5")
        nn.applications.VGG16(weights=None, input_shape=(input_size, input_size, 3), classes=classes,
                              name="vgg16_random").save_weights(weights)
        if image_path is None:
            image_path = os.path.join(out_dir, "shape.png")
            from PIL import Image
            images, _, _ = nn.datasets.make_shapes(1, size=64, seed=0)
            Image.fromarray(np.round(np.clip(images[0], 0, 1) * 255).astype("uint8")).save(image_path)
    if image_path is None:
        raise ValueError("Give an image file (or use quick=True / --quick)")
    start = time.perf_counter()
    model = nn.applications.VGG16(weights=weights, input_shape=(input_size, input_size, 3), classes=classes)
    load_seconds = time.perf_counter() - start
    print(f"VGG16 ({model.count_params():,} parameters) built and loaded from {weights} in {load_seconds:.1f} s")

    original, resized = load_image(image_path, input_size)
    x = nn.applications.vgg16.preprocess_input(resized[None].astype("float32"))
    probabilities = model.predict(x, verbose=0)[0]
    ranking = [int(i) for i in np.argsort(probabilities)[::-1][:top]]
    labels = [str(i) for i in ranking]
    if classes == 1000:
        try:
            decoded = nn.applications.vgg16.decode_predictions(probabilities[None], top=top)[0]
            labels = [f"{name} ({wnid})" for wnid, name, _ in decoded]
        except OSError as error:  # no network for the class index: show the indices
            print(f"(class names unavailable: {error})")
    for label, index in zip(labels, ranking):
        print(f"  {label:40s} {probabilities[index]:.4f}")

    heatmap = nn.viz.grad_cam(model, x, layer_name=layer_name, class_index=ranking[0])
    overlay_path = os.path.join(out_dir, "gradcam.png")
    overlay = nn.viz.overlay(original, heatmap, alpha=0.4)
    from PIL import Image
    Image.fromarray(np.round(overlay * 255).astype("uint8")).save(overlay_path)
    peak = tuple(int(i) for i in np.unravel_index(np.argmax(heatmap), heatmap.shape))
    print(f"Grad-CAM on {layer_name}: a {heatmap.shape[0]}x{heatmap.shape[1]} map, strongest at cell {peak}; "
          f"overlay saved to {overlay_path}")
    return {"model": model, "top_classes": ranking, "labels": labels, "probabilities": probabilities,
            "heatmap": heatmap, "overlay_path": overlay_path, "load_seconds": load_seconds, "input": x}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", nargs="?", help="an image file (JPEG, PNG, ...)")
    parser.add_argument("--weights", default="imagenet", help='"imagenet" (download Keras\'s file) or a path')
    parser.add_argument("--out", default="examples_output/pretrained_gradcam")
    parser.add_argument("--layer", default="block5_conv3")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="random weights, 32x32, offline")
    arguments = parser.parse_args()
    main(arguments.image, weights=arguments.weights, out_dir=arguments.out, layer_name=arguments.layer,
         input_size=arguments.size, classes=arguments.classes, quick=arguments.quick)
