"""Seeing what a CNN learned: activations, filters, class activation maps, attributions, metrics.

Everything is computed on the autograd tape (``nn.grad``), from one eager forward pass in
inference mode, without changing the model:

    acts = nn.viz.activations(model, x)                  # {layer: (N, h, w, C)}
    nn.viz.plot_activations(acts, "activations.png")
    loss, image = nn.viz.visualize_filter(model, "conv2", 0)   # keras.io gradient ascent
    heat = nn.viz.grad_cam(model, image)                 # (h, w) in [0, 1]
    rgb = nn.viz.overlay(image, heat)                    # jet, upsampled, superimposed
    nn.viz.evaluate_explanations(model, images, labels, masks)  # the metric table

Files: ``tape`` (layer lookup, taps, the class score), ``activations``, ``filters``, ``cam``
(Grad-CAM family), ``attribution`` (saliency, SmoothGrad, integrated gradients, guided
backprop, guided Grad-CAM), ``metrics``, ``plotting``, ``colormap``.
"""
from .activations import activations, channel_image, dead_channels
from .attribution import (Attribution, GuidedBackprop, GuidedGradCAM, IntegratedGradients, Saliency, SmoothGrad,
                          guided_backprop, guided_grad_cam, guided_relu, integrated_gradients, saliency, smoothgrad)
from .cam import BaseCAM, GradCAM, GradCAMPlusPlus, HiResCAM, grad_cam, grad_cam_plus_plus, hires_cam, normalize
from .colormap import gaussian_blur, jet, resize
from .filters import FilterVisualization, deprocess, visualize_filter
from .metrics import (deletion_insertion, energy_inside, evaluate_explanations, pointing_baseline, pointing_game,
                      randomization_check, rank_correlation)
from .plotting import overlay, plot_activations, plot_cam, plot_filters, plot_history
from .tape import get_layer

__all__ = [
    "activations", "channel_image", "dead_channels", "plot_activations",
    "visualize_filter", "FilterVisualization", "deprocess", "plot_filters",
    "grad_cam", "grad_cam_plus_plus", "hires_cam", "BaseCAM", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "normalize",
    "saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "guided_grad_cam", "guided_relu",
    "Attribution", "Saliency", "SmoothGrad", "IntegratedGradients", "GuidedBackprop", "GuidedGradCAM",
    "pointing_game", "pointing_baseline", "energy_inside", "deletion_insertion", "rank_correlation",
    "randomization_check", "evaluate_explanations",
    "overlay", "plot_cam", "plot_history", "jet", "resize", "gaussian_blur", "get_layer",
]
