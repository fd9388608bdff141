"""Seeing what a network learned: activations, filters, units, class activation maps, attributions, metrics.

Everything is computed on the autograd tape (``nn.grad``), from eager forward passes in
inference mode, without changing the model. Inputs are what ``model.predict`` accepts (an
array, a list, or a dict keyed by input name); ``output=`` picks one of several outputs and
``target=`` explains any score computed from them (``nn.viz.targets``):

    acts = nn.viz.activations(model, x)                  # {layer: (N, h, w, C)}
    nn.viz.plot_activations(acts, "activations.png", image=x[0], label="circle")
    loss, image = nn.viz.visualize_filter(model, "conv2", 0)   # keras.io gradient ascent
    unit = nn.viz.visualize_unit(model, "predictions", 2, parameterization="fourier")
    heat = nn.viz.grad_cam(model, image)                 # (h, w) in [0, 1]
    heat = nn.viz.score_cam(model, {"img": a, "meta": b}, output="kind", class_index=1)
    rgb = nn.viz.overlay(image, heat)                    # jet, upsampled, superimposed
    nn.viz.evaluate_explanations(model, images, labels, masks)  # the metric table

Files: ``tape`` (inputs, layer lookup, taps, outputs and logits), ``targets`` (what is
explained), ``activations``, ``filters``, ``unit`` and ``fourier`` (gradient ascent on the
input), ``cam`` (Grad-CAM family and the gradient-free CAMs), ``attribution`` (saliency,
SmoothGrad, integrated gradients, guided backprop, guided Grad-CAM), ``metrics``, ``plotting``,
``colormap``.
"""
from . import targets
from .activations import activations, channel_image, dead_channels
from .attribution import (Attribution, GuidedBackprop, GuidedGradCAM, IntegratedGradients, Saliency, SmoothGrad,
                          guided_backprop, guided_grad_cam, guided_relu, integrated_gradients, saliency, smoothgrad)
from .cam import (AblationCAM, BaseCAM, EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM,
                  ablation_cam, eigen_cam, grad_cam, grad_cam_plus_plus, hires_cam, layer_cam, normalize, score_cam,
                  xgrad_cam)
from .colormap import gaussian_blur, jet, resize
from .filters import FilterVisualization, deprocess, visualize_filter
from .metrics import (deletion_insertion, energy_inside, evaluate_explanations, pointing_baseline, pointing_game,
                      randomization_check, rank_correlation)
from .plotting import (overlay, plot_activations, plot_cam, plot_filters, plot_history, plot_units,
                       right_and_wrong)
from .tape import get_layer
from .unit import UnitVisualization, visualize_unit

__all__ = [
    "activations", "channel_image", "dead_channels", "plot_activations",
    "visualize_filter", "FilterVisualization", "deprocess", "plot_filters",
    "visualize_unit", "UnitVisualization", "plot_units", "targets",
    "grad_cam", "grad_cam_plus_plus", "hires_cam", "layer_cam", "xgrad_cam", "score_cam", "ablation_cam",
    "eigen_cam", "BaseCAM", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "LayerCAM", "XGradCAM", "ScoreCAM",
    "AblationCAM", "EigenCAM", "normalize",
    "saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "guided_grad_cam", "guided_relu",
    "Attribution", "Saliency", "SmoothGrad", "IntegratedGradients", "GuidedBackprop", "GuidedGradCAM",
    "pointing_game", "pointing_baseline", "energy_inside", "deletion_insertion", "rank_correlation",
    "randomization_check", "evaluate_explanations",
    "overlay", "plot_cam", "plot_history", "right_and_wrong", "jet", "resize", "gaussian_blur", "get_layer",
]
