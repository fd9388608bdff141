"""nn.exercises: worked solutions pass, classic mistakes fail on the term they get wrong, the CLI and starters."""
import importlib
import inspect
import pathlib

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.cli import main
from numpy_nn.exercises import catalog

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMES = ["dense", "relu", "softmax_crossentropy", "conv2d", "max_pool2d", "batch_norm", "dropout",
         "depthwise_conv2d", "lstm_cell"]


def solution(name):
    return importlib.import_module(f"tests.exercise_solutions.{name}").backward


def test_the_issue_lists_every_exercise_in_order():
    assert nn.exercises.list_exercises() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_worked_solution_passes_every_term(name):
    report = nn.exercises.check(name, solution(name), keras=False)
    assert report.passed, str(report)
    assert [row.term for row in report.rows] == list(nn.exercises.get(name).terms)
    for row in report.rows:
        assert row.max_error < 1e-9 and row.gradcheck_ok is True


@pytest.mark.parametrize("name", NAMES)
def test_naive_loop_oracle_equals_the_reference_tier_tape(name):
    """The shipped oracle and the library's reference ops agree, so either one catches a wrong term."""
    exercise = nn.exercises.get(name)
    inputs, params = exercise.make(np.random.default_rng(3))
    with nn.config.use_kernels("reference"):
        tensors = {k: nn.Tensor(v, requires_grad=True) for k, v in inputs.items()}
        out = exercise.reference(tensors, params)
        g = np.random.default_rng(4).standard_normal(out.shape)
        grads = nn.grad((out * nn.Tensor(g)).sum(), [tensors[source] for source in exercise.differentiable])
    oracle = exercise.oracle(inputs, params, exercise.upstream(g))
    for term, grad in zip(exercise.terms, grads):
        np.testing.assert_allclose(oracle[term], grad.data, rtol=1e-10, atol=1e-12, err_msg=term)


def _bn_without_dvar(x, gamma, beta, g, epsilon):
    axes = tuple(range(x.ndim - 1))
    m = x.size // x.shape[-1]
    centered = x - x.mean(axis=axes)
    r = 1.0 / np.sqrt((centered ** 2).mean(axis=axes) + epsilon)
    d_x_hat = g * gamma
    return d_x_hat * r - np.sum(d_x_hat, axis=axes) * r / m, np.sum(g * centered * r, axis=axes), np.sum(g, axis=axes)


def _bn_dgamma_with_x(x, gamma, beta, g, epsilon):
    dx, _, dbeta = solution("batch_norm")(x, gamma, beta, g, epsilon)
    return dx, np.sum(g * x, axis=tuple(range(x.ndim - 1))), dbeta


def _lstm_without_the_tanh_path(x, h, c, kernel, recurrent_kernel, bias, dh_next, dc_next):
    """dC = dc_next only: forgets that h_new = o * tanh(c_new) also depends on c_new."""
    return solution("lstm_cell")(x, h, c, kernel, recurrent_kernel, bias, np.zeros_like(dh_next), dc_next)


MISTAKES = {
    "dense: dkernel = g.T @ x (transposed)": ("dense", lambda x, k, b, g: (g @ k.T, g.T @ x, g.sum(0)), ["dkernel"]),
    "dense: bias gradient not summed over the batch": ("dense", lambda x, k, b, g: (g @ k.T, x.T @ g, g), ["dbias"]),
    "dense: bias gradient averaged, not summed": ("dense", lambda x, k, b, g: (g @ k.T, x.T @ g, g.mean(0)), ["dbias"]),
    "batch_norm: no d_var term": ("batch_norm", _bn_without_dvar, ["dx"]),
    "batch_norm: dgamma = sum(g * x)": ("batch_norm", _bn_dgamma_with_x, ["dgamma"]),
    "relu: gradient passed everywhere": ("relu", lambda x, g: (g,), ["dx"]),
    "dropout: no 1 / (1 - rate) scaling": ("dropout", lambda x, mask, rate, g: (g * mask,), ["dx"]),
    "softmax_crossentropy: upstream g ignored": (
        "softmax_crossentropy", lambda z, y, g: (np.exp(z) / np.exp(z).sum(-1, keepdims=True) - y,), ["dlogits"]),
    "max_pool2d: gradient to every input of the window": (
        "max_pool2d", lambda x, g, pool, strides, padding: (np.ones_like(x) * g.mean(),), ["dx"]),
    "conv2d: bias gradient only summed over the batch": (
        "conv2d", lambda x, k, b, g, s, p: solution("conv2d")(x, k, b, g, s, p)[:2] + (g.sum(0),), ["dbias"]),
    "lstm_cell: c_new's path through h_new forgotten": (
        "lstm_cell", _lstm_without_the_tanh_path, ["dx", "dh", "dc", "dkernel", "drecurrent_kernel", "dbias"]),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_classic_mistake_fails_naming_the_wrong_term(mistake):
    name, backward, wrong = MISTAKES[mistake]
    report = nn.exercises.check(name, backward, keras=False)
    assert not report.passed
    assert report.failed_terms == wrong
    text = str(report)
    assert f"{len(wrong)} of {len(report.rows)} terms wrong: {', '.join(wrong)}" in text
    for row in report.rows:
        if row.term in wrong:
            assert f"WRONG {row.term}" in text and row.formula in text
        else:
            assert f"ok    {row.term}" in text


def test_dense_transposed_kernel_report_gives_the_shapes():
    report = nn.exercises.check("dense", MISTAKES["dense: dkernel = g.T @ x (transposed)"][1], keras=False)
    assert "shape (2, 4), expected (4, 2)" in str(report)
    assert "dkernel = x.T @ g" in str(report)


def test_a_wrong_value_is_located_and_the_finite_differences_disagree():
    report = nn.exercises.check("batch_norm", _bn_without_dvar, keras=False)
    dx = report.rows[0]
    inputs, params = nn.exercises.get("batch_norm").make(np.random.default_rng(0))
    rng = np.random.default_rng(0)
    catalog.BATCH_NORM.make(rng)
    g = rng.standard_normal(inputs["x"].shape)
    yours = _bn_without_dvar(inputs["x"], inputs["gamma"], inputs["beta"], g, params["epsilon"])[0]
    right = solution("batch_norm")(inputs["x"], inputs["gamma"], inputs["beta"], g, params["epsilon"])[0]
    worst = np.unravel_index(np.argmax(np.abs(yours - right)), yours.shape)
    assert dx.index == tuple(int(i) for i in worst)
    assert dx.yours == pytest.approx(yours[worst]) and dx.expected == pytest.approx(right[worst])
    assert dx.gradcheck_ok is False and "disagree" in dx.gradcheck_message
    assert f"at index {dx.index}" in str(report)


def test_a_function_that_raises_is_reported_not_crashed():
    def broken(x, kernel, bias, g):
        return g @ kernel, x.T @ g, g.sum(0)  # (3, 2) @ (4, 2): shapes do not fit
    report = nn.exercises.check("dense", broken, keras=False)
    assert not report.passed and report.failed_terms == ["dx", "dkernel", "dbias"]
    assert "ValueError" in report.error and "matmul" in report.error


def test_wrong_number_of_terms_is_reported():
    report = nn.exercises.check("batch_norm", lambda x, gamma, beta, g, eps: (g, g.sum(0)), keras=False)
    assert not report.passed and "must return 3 arrays" in report.error


def test_unknown_exercise_lists_the_names():
    with pytest.raises(ValueError, match="unknown exercise 'conv3d'.*dense, relu"):
        nn.exercises.check("conv3d", lambda *a: None)


@pytest.mark.keras
@pytest.mark.parametrize("name", ["dense", "batch_norm", "conv2d", "lstm_cell"])
def test_keras_agrees_with_the_worked_solution(name):
    from tests.keras_helpers import import_keras
    import_keras()
    report = nn.exercises.check(name, solution(name), keras=True)
    assert report.passed, str(report)
    for row in report.rows:
        assert row.keras_ok is True and row.keras_error < 1e-4, row


@pytest.mark.keras
def test_keras_also_flags_the_missing_dvar_term():
    from tests.keras_helpers import import_keras
    import_keras()
    report = nn.exercises.check("batch_norm", _bn_without_dvar, keras=True)
    assert [row.keras_ok for row in report.rows] == [False, True, True]
    assert "Keras: DISAGREES" in str(report)


# -- starter files and the command line ------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_starter_file_has_the_signature_the_formulas_and_an_empty_body(name):
    path = ROOT / "examples" / "exercises" / f"{name}.py"
    assert path.read_text() == nn.exercises.starter(name), "regenerate with nn.exercises.starter"
    spec = importlib.util.spec_from_file_location(f"starter_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exercise = nn.exercises.get(name)
    assert tuple(inspect.signature(module.backward).parameters) == exercise.arguments
    assert inspect.signature(module.backward).parameters.keys() == inspect.signature(solution(name)).parameters.keys()
    for term, (_, formula) in exercise.terms.items():
        assert term in module.__doc__ and formula.split()[0] in module.__doc__
    report = nn.exercises.check(name, module.backward, keras=False)
    assert not report.passed and report.error.startswith("NotImplementedError")


def test_cli_exercise_list_and_show(capsys):
    assert main(["exercise", "list"]) == 0
    listed = capsys.readouterr().out
    for name in NAMES:
        assert f"{name} " in listed and nn.exercises.get(name).signature in listed
    assert main(["exercise", "show", "batch_norm"]) == 0
    shown = capsys.readouterr().out
    assert "def backward(x, gamma, beta, g, epsilon) -> (dx, dgamma, dbeta)" in shown
    assert "dgamma = sum(g * x_hat)" in shown and "examples/exercises/batch_norm.py" in shown


def test_cli_exercise_check_exit_codes(capsys):
    solved = str(ROOT / "tests" / "exercise_solutions" / "dense.py")
    assert main(["exercise", "check", "dense", solved, "--no-keras"]) == 0
    assert "nn.exercises.check('dense'): PASSED" in capsys.readouterr().out
    starter = str(ROOT / "examples" / "exercises" / "dense.py")
    assert main(["exercise", "check", "dense", starter, "--no-keras"]) == 1
    assert "NotImplementedError: exercise dense" in capsys.readouterr().out
    assert main(["exercise", "check", "densest", solved]) == 2
    assert "unknown exercise 'densest'" in capsys.readouterr().err
    assert main(["exercise", "check", "dense", "no_such_file.py"]) == 2
    assert "no such file" in capsys.readouterr().err
