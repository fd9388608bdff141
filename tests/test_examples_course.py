"""The course examples (dropout, conv types, Inception/ResNet blocks, batch normalization,
callbacks) run in quick mode, and their numbers say what their docstrings claim."""
import csv
import pathlib

import numpy as np
import pytest

from tests.examples_loader import load_example


def test_dropout(capsys):
    result = load_example("dropout").main(quick=True)
    masks, training = result["masks"], result["training"]
    p = masks["keep_prob"]
    # the rule: inverted dropout scales kept units by exactly 1/p, inference is the identity
    assert masks["inference_is_identity"]
    assert masks["inverted_kept_scale"] == pytest.approx(1 / p, rel=1e-6)
    assert masks["textbook_kept_scale"] == pytest.approx(1.0, rel=1e-6)
    assert abs(masks["keep_fraction"] - p) < 0.01
    # both forms agree in expectation: the mean over masks is within a few standard errors
    assert masks["inverted_mean_error_in_se"] < 5 and masks["textbook_mean_error_in_se"] < 5
    # ... and differ in variance by 1/p^2, each matching its formula
    assert masks["inverted_var_vs_formula"] == pytest.approx(1.0, abs=0.05)
    assert masks["textbook_var_vs_formula"] == pytest.approx(1.0, abs=0.05)
    assert masks["variance_ratio"] == pytest.approx(1 / p ** 2, rel=1e-4)  # same masks: exact up to rounding
    # dropout narrows the train/validation loss gap of an overfitting MLP
    assert training["inverted"]["gap"] < training["none"]["gap"]
    assert training["textbook"]["gap"] < training["none"]["gap"]
    assert min(row["val_accuracy"] for row in training.values()) > 0.85
    # served with its own rule the head sees training-scale inputs; the other rule is off by p or 1/p
    for form, wrong in (("inverted", p), ("textbook", 1 / p)):
        assert training[form]["right_rule"]["head_input_ratio"] == pytest.approx(1.0, abs=0.02)
        assert training[form]["wrong_rule"]["head_input_ratio"] == pytest.approx(wrong, rel=0.02)
    # the right rule for each form gives the evaluate() numbers exactly (the layer does what serve() models)
    assert training["inverted"]["right_rule"]["val_loss"] == pytest.approx(training["inverted"]["val_loss"], rel=1e-4)
    assert training["textbook"]["right_rule"]["val_loss"] == pytest.approx(training["textbook"]["val_loss"], rel=1e-4)
    assert "standard errors" in capsys.readouterr().out


def test_conv_types(capsys):
    module = load_example("conv_types")
    result = module.main(quick=True)
    shape, rows = result["shape"], result["layers"]
    c_in, c_out, k, hw = shape["channels_in"], shape["channels_out"], shape["kernel"], shape["size"] ** 2
    for row in rows.values():
        assert row["params"] == row["count_params"]
    full, separable = rows[f"Conv2D {k}x{k}"], rows[f"SeparableConv2D {k}x{k}"]
    assert full["params"] == k * k * c_in * c_out + c_out
    assert rows["Conv2D 1x1"]["params"] == c_in * c_out + c_out
    assert rows[f"DepthwiseConv2D {k}x{k}"]["params"] == k * k * c_in + c_in
    assert full["flops"] == 2 * hw * k * k * c_in * c_out
    assert separable["flops_ratio"] == pytest.approx(1 / c_out + 1 / k ** 2)
    assert all(row["forward_seconds"] > 0 for row in rows.values())
    for label, max_abs in result["checks"].items():
        assert max_abs < 1e-5, label
    assert "count_params()" in capsys.readouterr().out


def test_inception_residual(capsys):
    result = load_example("inception_residual").main(quick=True)
    module, blocks = result["inception_module"], result["residual_blocks"]
    assert module["params"] == module["formula"]
    assert module["output_channels"] == module["expected_channels"] == 32
    assert module["params"] < module["as_full_convs"] / 5
    assert blocks["block1"]["params"] == blocks["block1"]["formula"] and not blocks["block1"]["has_projection"]
    assert blocks["block2"]["params"] == blocks["block2"]["formula"] and blocks["block2"]["has_projection"]
    inception, resnet = result["mini_inception"], result["mini_resnet"]
    assert "inception1_concat" in inception["summary"] and "(Concatenate)" in inception["summary"]
    assert "block2_add (Add)" in resnet["summary"] and "block2_projection" in resnet["summary"]
    for model in (inception, resnet):
        assert f"Total params: {model['params']:,}" in model["summary"]
        assert model["history"]["loss"][-1] < 0.5 * model["history"]["loss"][0]
        assert model["test_accuracy"] > 0.7


def test_batch_normalization(tmp_path, capsys):
    result = load_example("batch_normalization").main(quick=True, out_dir=str(tmp_path))
    first = result["training_vs_inference"]
    np.testing.assert_allclose(first["training_mean"], 0, atol=1e-5)
    np.testing.assert_allclose(first["training_std"], 1, atol=0.01)       # eps = 1e-3 shrinks it a little
    np.testing.assert_allclose(first["moving_mean_after_one_step"], 0.01 * first["batch_mean"], rtol=1e-5)
    assert first["max_abs_difference"] > 5                                # inference still uses mean 0, var 1
    slow, fast = result["momentum_0.99"], result["momentum_0.9"]
    # early on (before batch noise dominates) the distance follows d_0 * momentum^t
    for t in (1, 10, 100):
        assert slow["mean_distance"][t - 1] == pytest.approx(slow["predicted_mean_distance"][t - 1], rel=0.1)
    assert slow["steps_to_1_percent"] == pytest.approx(458.2, abs=0.1)
    assert fast["steps_to_1_percent"] == pytest.approx(43.7, abs=0.1)
    # momentum 0.9 has converged by step 100; 0.99 is still far, and its output gap shrinks over time
    assert fast["mean_distance"][99] < 0.5 < slow["mean_distance"][99]
    assert slow["output_gap"][-1] < 0.1 * slow["output_gap"][0]
    assert result["closed_form_error"] < 1e-4
    biased = result["biased_variance"]
    assert biased["vs_biased"] < 1e-5 < 0.05 < biased["vs_unbiased"]
    assert biased["moving_variance_over_sigma2"] == pytest.approx(biased["expected"], abs=0.03)
    frozen = result["frozen"]
    assert frozen["training_equals_inference"] and frozen["layer_weights_unchanged"]
    assert frozen["trainable_weights"] == 0
    assert frozen["fit_bn_unchanged"] and frozen["fit_dense_changed"]
    assert pathlib.Path(result["figure"]).stat().st_size > 10_000


def _reduce_lr_expected(val_loss, min_delta=1e-4):
    """ReduceLROnPlateau(patience=1, cooldown=0): reduce after every epoch that is not an improvement."""
    best, reduce = None, []
    for value in val_loss:
        improved = best is None or value < best - min_delta
        best = value if improved else best
        reduce.append(not improved)
    return reduce


def test_callbacks_schedule(tmp_path, capsys):
    result = load_example("callbacks_schedule").main(quick=True, out_dir=str(tmp_path))
    scheduler, decay, plateau = result["scheduler"], result["exponential_decay"], result["plateau"]
    np.testing.assert_allclose(scheduler["learning_rates"], scheduler["expected"], rtol=1e-6)
    assert len(decay["per_step"]) == decay["iterations"] == 4 * decay["steps_per_epoch"]
    np.testing.assert_allclose(decay["per_step"], decay["expected"], rtol=1e-5)

    history = plateau["history"]
    val_loss, rates = history["val_loss"], history["learning_rate"]
    expected_reductions = _reduce_lr_expected(val_loss)
    for epoch in range(len(rates) - 1):
        factor = 0.5 if expected_reductions[epoch] else 1.0
        assert rates[epoch + 1] == pytest.approx(rates[epoch] * factor, rel=1e-6), epoch
    # early stopping happened, `patience` epochs after the best one, and the best weights came back
    best = int(np.argmin(val_loss))
    assert plateau["stopped_epoch"] > 0 and plateau["best_epoch"] == best
    assert len(val_loss) == best + plateau["patience"] + 1
    assert plateau["val_loss_after_restore"] == pytest.approx(val_loss[best], rel=1e-5)
    # the CSV log has one row per epoch with the History's numbers; the checkpoint holds the best weights
    rows = plateau["csv_rows"]
    assert [int(row["epoch"]) for row in rows] == list(range(len(val_loss)))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        np.testing.assert_allclose([float(row[key]) for row in rows], history[key], rtol=1e-7)
    with open(plateau["csv_path"], newline="") as f:
        assert next(csv.reader(f))[0] == "epoch"
    assert plateau["checkpoint_max_abs_diff"] == 0.0
    assert pathlib.Path(plateau["checkpoint_path"]).exists()
    assert pathlib.Path(result["figure"]).stat().st_size > 10_000
