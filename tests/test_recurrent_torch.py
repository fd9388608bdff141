"""PyTorch's LSTM and GRU are Keras's LSTM and GRU(reset_after=True) with other weight layouts:
the conversion docs/sequences.md gives, checked on numbers (needs torch)."""
import numpy as np
import pytest

from numpy_nn import layers as L

torch = pytest.importorskip("torch")


def _torch_outputs(module, x):
    with torch.no_grad():
        out, _ = module(torch.from_numpy(x))
    return out.numpy()


def test_torch_lstm_weights_in_keras_layout_give_the_same_outputs():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 7, 5)).astype("float32")
    module = torch.nn.LSTM(5, 4, batch_first=True)
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in (module.weight_ih_l0, module.weight_hh_l0,
                                                            module.bias_ih_l0, module.bias_hh_l0))
    layer = L.LSTM(4, return_sequences=True)
    layer(x)
    layer.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])  # same gate order i, f, g(=c), o; one bias
    np.testing.assert_allclose(layer(x).data, _torch_outputs(module, x), rtol=1e-5, atol=1e-6)


def test_torch_gru_weights_in_keras_layout_give_the_same_outputs():
    torch.manual_seed(1)
    x = np.random.default_rng(1).standard_normal((3, 7, 5)).astype("float32")
    module = torch.nn.GRU(5, 4, batch_first=True)
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in (module.weight_ih_l0, module.weight_hh_l0,
                                                            module.bias_ih_l0, module.bias_hh_l0))

    def keras_order(a):  # PyTorch's gate blocks r, z, n -> Keras's z, r, h (along the first axis)
        r, z, n = np.split(a, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)
    layer = L.GRU(4, return_sequences=True)  # reset_after=True: the reset multiplies (h U_h + b_hh)
    layer(x)
    layer.set_weights([keras_order(w_ih).T, keras_order(w_hh).T, np.stack([keras_order(b_ih), keras_order(b_hh)])])
    np.testing.assert_allclose(layer(x).data, _torch_outputs(module, x), rtol=1e-5, atol=1e-6)
