"""The sequence examples (and the Conv2DTranspose autoencoder) and data sets: quick runs learn beyond chance
and their checks hold."""
import numpy as np
import pytest

import numpy_nn as nn
from tests.examples_loader import load_example


def test_padded_sequences_labels_padding_and_lengths():
    for padding in ("post", "pre"):
        x, y, lengths = nn.datasets.make_padded_sequences(200, max_length=9, vocab_size=7, classes=3, min_length=3,
                                                          padding=padding, label="first_last", seed=1)
        assert x.shape == (200, 9) and x.dtype == np.int64
        np.testing.assert_array_equal((x != 0).sum(axis=1), lengths)
        assert lengths.min() >= 3 and lengths.max() <= 9 and x.max() < 7
        real = [row[row != 0] for row in x]
        np.testing.assert_array_equal(y, [(r[0] + r[-1]) % 3 for r in real])
        if padding == "post":
            assert all((row[length:] == 0).all() for row, length in zip(x, lengths))
        else:
            assert all((row[:9 - length] == 0).all() for row, length in zip(x, lengths))
    with pytest.raises(ValueError, match="padding='middle'"):
        nn.datasets.make_padded_sequences(5, padding="middle")


def test_adding_problem_and_noisy_series():
    x, y = nn.datasets.make_adding_problem(500, length=12, seed=2)
    assert x.shape == (500, 12, 2) and y.shape == (500, 1)
    np.testing.assert_array_equal(x[..., 1].sum(axis=1), 2.0)
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(axis=1), rtol=1e-6)
    assert (x[:, :6, 1].sum(axis=1) == 1).all()  # one marker in each half
    series, target = nn.datasets.make_noisy_series(300, length=25, noise=0.0, seed=3)
    assert series.shape == (300, 25, 1) and target.shape == (300, 1)
    noisy, _ = nn.datasets.make_noisy_series(300, length=25, noise=0.1, seed=3)
    assert 0.08 < float(np.std(noisy - series)) < 0.12


def test_sequence_masking_lstm_example(capsys):
    result = load_example("sequence_masking_lstm").main(quick=True)
    assert result["masked"]["val_accuracy"] >= 0.85 > result["chance"] + 0.3
    assert result["unmasked"]["val_accuracy"] > result["chance"] + 0.1
    assert result["lstm_params"]["count_params"] == result["lstm_params"]["formula"]
    assert result["truncation_max_abs"] < 1e-5  # masked steps are skipped exactly
    assert "chance 0.5" in capsys.readouterr().out


def test_bidirectional_gru_example():
    result = load_example("bidirectional_gru").main(quick=True, verbose=0)
    assert result["bidirectional"]["val_accuracy"] >= 0.9
    assert result["bidirectional"]["val_accuracy"] > result["forward"]["val_accuracy"] + 0.2
    for kind in ("forward", "bidirectional"):
        assert result[kind]["params"] == result[kind]["params_formula"]


def test_sequence_memory_example():
    result = load_example("sequence_memory").main(quick=True, verbose=0)
    adding, forecasting = result["adding"], result["forecasting"]
    assert adding["val_mse"] < 0.25 * adding["mean_baseline_mse"]
    assert abs(adding["mean_baseline_mse"] - adding["theory_baseline_mse"]) < 0.03
    assert forecasting["val_mae"] < 0.7 * forecasting["persistence_mae"]


def test_conv1d_sequences_example():
    result = load_example("conv1d_sequences").main(quick=True, verbose=0)
    forecasting, classification = result["forecasting"], result["classification"]
    assert forecasting["val_mae"] < 0.75 * forecasting["persistence_mae"]
    assert forecasting["past_change_max_abs"] == 0.0 < forecasting["future_change_max_abs"]  # causal padding
    assert classification["val_accuracy"] >= classification["chance"] + 0.5


def test_conv_transpose_autoencoder_example():
    pytest.importorskip("sklearn")
    result = load_example("conv_transpose_autoencoder").main(quick=True, verbose=0)
    assert result["test_mse"] < 0.3 * result["mean_image_mse"]
    assert result["shapes"]["up1"] == (4, 4, 16) and result["shapes"]["up2"] == (8, 8, 1)  # "same": out = n * s
    assert result["valid_size"] == result["valid_size_formula"] == 5  # "valid": (n - 1) s + max(k, s)
