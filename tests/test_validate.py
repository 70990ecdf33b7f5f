import numpy as np
import pytest

from troikadl import validate as v


def test_as_features_accepts_lists_and_tensors():
    import torch

    assert v.as_features([[1, 2], [3, 4]]).dtype == np.float64
    assert v.as_features(torch.ones(3, 2)).shape == (3, 2)


@pytest.mark.parametrize("bad, exc, words", [
    (np.ones(3), ValueError, "X must be 2-D"),
    (np.zeros((0, 2)), ValueError, "at least one row"),
    (np.array([["a", "b"]]), TypeError, "X must hold numbers"),
    (np.array([[True, False]]), TypeError, "X must hold numbers"),
    (np.array([[np.nan, 1.0]]), ValueError, "finite"),
])
def test_as_features_names_argument_and_expectation(bad, exc, words):
    with pytest.raises(exc, match=words):
        v.as_features(bad)


def test_as_features_checks_columns():
    with pytest.raises(ValueError, match="X must have 2 columns"):
        v.as_features(np.ones((3, 5)), n_features=2)


def test_as_labels():
    assert v.as_labels([0, 1, 1.0]).tolist() == [0, 1, 1]
    assert v.as_labels(np.array([[1], [0]])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="y must hold whole-number"):
        v.as_labels([0.5, 1])
    with pytest.raises(ValueError, match="one label per sample"):
        v.as_labels([0, 1], n=3)
    with pytest.raises(ValueError, match=r"only hold labels \[0, 1\], got also \[2\]"):
        v.as_labels([0, 2], allowed=(0, 1))
    with pytest.raises(TypeError, match="integer class labels"):
        v.as_labels(["a", "b"])


def test_scalars():
    assert v.check_positive(3, "epochs", integer=True) == 3
    with pytest.raises(TypeError, match="epochs must be an integer"):
        v.check_positive(3.0, "epochs", integer=True)
    with pytest.raises(ValueError, match="lr must be > 0"):
        v.check_positive(-1e-3, "lr")
    with pytest.raises(TypeError, match="lr must be a number"):
        v.check_positive("0.1", "lr")
    assert v.check_in_range(0.25, "test_size", 0, 1, closed="neither") == 0.25
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\)"):
        v.check_in_range(1, "test_size", 0, 1, closed="neither")


def test_same_length():
    assert v.check_same_length(X=[1, 2], y=[3, 4]) == 2
    with pytest.raises(ValueError, match="X has 2, y has 3"):
        v.check_same_length(X=[1, 2], y=[1, 2, 3])


# --- the shared checks added for issue #21 §3 (bad input) -------------------------------------------------

@pytest.mark.parametrize("bad, exc, words", [
    (np.array([1 + 2j, 3]), TypeError, "x must hold real numbers, got complex"),
    (np.array([1 + 0j, 3]), TypeError, "complex"),  # refused even with a zero imaginary part
    (np.array(["1", "2"]), TypeError, "x must hold numbers .* strings"),
    (np.array([1.0, None], dtype=object), TypeError, "Python objects"),
    (np.array([True, False]), TypeError, "booleans"),
    (None, TypeError, "x must be an array of numbers, got None"),
    ("1, 2", TypeError, "got str"),
    ([[1, 2], [3]], TypeError, "ragged"),
])
def test_as_float_array_refuses_what_numpy_would_convert(bad, exc, words):
    with pytest.raises(exc, match=words):
        v.as_float_array(bad, "x")


def test_as_float_array_options():
    import torch

    assert v.as_float_array([1, 2], "x").dtype == np.float64  # integers accepted, converted
    assert v.as_float_array(np.ones(2, np.float32), "x", dtype=None).dtype == np.float32  # dtype kept
    assert v.as_float_array(torch.ones(2, dtype=torch.float64), "x").shape == (2,)
    assert np.isnan(v.as_float_array([np.nan], "z", finite=False)[0])
    with pytest.raises(ValueError, match="x must be finite"):
        v.as_float_array([np.inf], "x")
    with pytest.raises(ValueError, match=r"x must be 1-D or 2-D, got shape \(1, 1, 1\)"):
        v.as_float_array(np.ones((1, 1, 1)), "x", ndim=(1, 2))
    with pytest.raises(ValueError, match="x must not be empty"):
        v.as_float_array(np.ones((0, 2)), "x", nonempty=True)


def test_as_int_array():
    assert v.as_int_array([1.0, 2.0], "ids").tolist() == [1, 2]  # whole floats accepted
    with pytest.raises(ValueError, match="ids must hold whole numbers"):
        v.as_int_array([1.0, 2.5], "ids")
    with pytest.raises(ValueError, match=r"ids must hold values in \[0, 9\], got values from -1 to 3"):
        v.as_int_array([-1, 3], "ids", min=0, max=9)
    with pytest.raises(TypeError, match="booleans"):
        v.as_int_array([True], "ids")


def test_as_labels_refuses_complex():
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        v.as_labels(np.array([0, 1 + 1j]))
    with pytest.raises(TypeError, match="y must be an array of integer class labels, got None"):
        v.as_labels(None)


def test_as_tensor():
    import torch

    t = v.as_tensor(np.array([1, 2]), "x")
    assert isinstance(t, torch.Tensor) and t.dtype == torch.get_default_dtype()  # ints -> default float
    assert v.as_tensor(torch.tensor([1, 2]), "ids", dtype="integer").dtype == torch.int64
    assert v.as_tensor(torch.tensor([1, 2]), "x", dtype="any").dtype == torch.int64
    for bad, exc, words in [(torch.ones(2, dtype=torch.complex64), TypeError, "x must hold real numbers"),
                            (torch.ones(2, dtype=torch.bool), TypeError, "x must hold real numbers"),
                            (torch.tensor([float("nan")]), ValueError, "x must be finite"),
                            (torch.ones(2, 3), ValueError, "x must be 1-D"),
                            (np.array(["a"]), TypeError, "strings"),
                            (None, TypeError, "x must be a torch tensor, got None")]:
        with pytest.raises(exc, match=words):
            v.as_tensor(bad, "x", ndim=1)
    with pytest.raises(TypeError, match="ids must hold integers"):
        v.as_tensor(torch.ones(2), "ids", dtype="integer")
    with pytest.raises(TypeError, match="x must be a torch tensor, got ndarray"):
        v.as_tensor(np.ones(2), "x", convert=False)


def test_check_int():
    import torch

    assert v.check_int(np.int64(3), "n") == 3 and type(v.check_int(np.int64(3), "n")) is int
    assert v.check_int(np.array(4), "n") == 4 and v.check_int(torch.tensor(5), "n") == 5  # 0-d arrays
    for bad in (3.0, 2.5, True, np.bool_(True), "3", None, float("nan"), 1j):
        with pytest.raises(TypeError, match="n must be an integer"):
            v.check_int(bad, "n")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        v.check_int(0, "n", min=1)
    with pytest.raises(ValueError, match="n must be <= 4, got 5"):
        v.check_int(5, "n", max=4)


def test_check_float():
    assert v.check_float(np.float32(0.5), "lr") == 0.5 and v.check_float(2, "lr") == 2.0
    for bad in (True, 1j, "0.1", None, [0.1], np.ones(2)):
        with pytest.raises(TypeError, match="lr must be a real number"):
            v.check_float(bad, "lr")
    with pytest.raises(ValueError, match="lr must be a finite number, got nan"):
        v.check_float(float("nan"), "lr", finite=False)
    with pytest.raises(ValueError, match="lr must be a finite number, got inf"):
        v.check_float(float("inf"), "lr")
    assert v.check_float(float("inf"), "tol", finite=False) == float("inf")
    with pytest.raises(ValueError, match="lr must be > 0, got 0"):
        v.check_float(0.0, "lr", min=0, min_open=True)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1"):
        v.check_float(1.0, "p", min=0, max=1, max_open=True)
    with pytest.raises(ValueError, match="t must be <= 2, got 3"):
        v.check_float(3, "t", max=2)


def test_check_bool_str_choice():
    assert v.check_bool(np.bool_(True), "flag") is True
    with pytest.raises(TypeError, match="flag must be True or False, got str 'no'"):
        v.check_bool("no", "flag")
    assert v.check_str("abc", "text") == "abc"
    with pytest.raises(TypeError, match="text must be a string, got int 3"):
        v.check_str(3, "text")
    with pytest.raises(ValueError, match="text must not be an empty string"):
        v.check_str("", "text", nonempty=True)
    assert v.check_choice("csr", "layout", ["csr", "coo"]) == "csr"
    assert v.check_choice(None, "metric", ["accuracy", None]) is None
    with pytest.raises(ValueError, match=r"layout must be one of \['csr', 'coo'\], got str 'csc'"):
        v.check_choice("csc", "layout", ["csr", "coo"])
    with pytest.raises(TypeError, match="layout must be one of"):
        v.check_choice(3, "layout", ["csr", "coo"])
    with pytest.raises(ValueError, match="gates must be one of"):
        v.check_choice(True, "gates", [1, 4])  # True == 1 in Python, but it is not a gate count
    with pytest.raises(ValueError, match="gates must be one of"):
        v.check_choice(np.array([1, 4]), "gates", [1, 4])


def test_check_str_list():
    assert v.check_str_list(("a", "b"), "sentences") == ["a", "b"]
    with pytest.raises(TypeError, match=r"sentences must be a list of strings, not a single string \(wrap it"):
        v.check_str_list("the cat sat", "sentences")
    with pytest.raises(TypeError, match=r"sentences must hold only strings, but sentences\[1\] is int 3"):
        v.check_str_list(["a", 3], "sentences")
    with pytest.raises(ValueError, match="sentences must hold at least one string"):
        v.check_str_list([], "sentences")
    assert v.check_str_list([], "sentences", nonempty=False) == []
    for bad in (None, 3, {"a": 1}):
        with pytest.raises(TypeError, match="sentences must be a list of strings"):
            v.check_str_list(bad, "sentences")


def test_check_shape_instance_callable():
    assert v.check_shape(np.ones((5, 3)), "X", ("batch", 3)) is not None
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 3\), got \(5, 4\)"):
        v.check_shape(np.ones((5, 4)), "X", ("batch", 3))
    with pytest.raises(ValueError, match=r"X must have shape \(\*, 3\), got \(5, 3, 1\)"):
        v.check_shape(np.ones((5, 3, 1)), "X", (None, 3))
    with pytest.raises(ValueError, match=r"X must have shape \(n, n\) with n the same, got"):
        v.check_shape(np.ones((2, 3)), "X", ("n", "n"), desc="(n, n) with n the same")
    rng = np.random.default_rng(0)
    assert v.check_instance(rng, "rng", np.random.Generator) is rng
    with pytest.raises(TypeError, match="rng must be a Generator, got int 3"):
        v.check_instance(3, "rng", np.random.Generator)
    with pytest.raises(TypeError, match="loss must be a function, got str 'mse'"):
        v.check_callable("mse", "loss")


def test_check_float_tensor_converts_nothing_and_skips_values_on_meta():
    import torch

    x = torch.ones(2, 3, dtype=torch.float64)
    assert v.check_float_tensor(x, "w", ndim=2) is x  # no copy, dtype kept
    meta = torch.empty(2, 3, device="meta")
    assert v.check_float_tensor(meta, "w") is meta  # no values to check on the meta device
    for bad, exc, words in [(np.ones((2, 3)), TypeError, "w must be a torch tensor"),
                            (torch.ones(2, 3, dtype=torch.int64), TypeError, "w must be a floating-point tensor"),
                            (torch.ones(3), ValueError, "w must be 2-D"),
                            (torch.tensor([[1.0, float("nan")]]), ValueError, "w must be finite")]:
        with pytest.raises(exc, match=words):
            v.check_float_tensor(bad, "w", ndim=2)


def test_check_int_list():
    assert v.check_int_list((3, np.int64(4)), "sizes", min=1) == [3, 4]
    assert type(v.check_int_list([np.int32(2)], "s")[0]) is int
    with pytest.raises(TypeError, match=r"sizes must be a list or tuple of integers such as \[4, 2\], got int 3"):
        v.check_int_list(3, "sizes", example="[4, 2]")
    with pytest.raises(TypeError, match="sizes must be a list or tuple of integers, got str"):
        v.check_int_list("4,2", "sizes")
    with pytest.raises(TypeError, match="sizes must be a list or tuple"):
        v.check_int_list(range(3), "sizes")  # a generator or range: say what was meant, as a list
    with pytest.raises(TypeError, match=r"sizes\[1\] must be an integer, got float 2.5"):
        v.check_int_list([4, 2.5], "sizes")
    with pytest.raises(TypeError, match=r"sizes\[0\] must be an integer"):
        v.check_int_list([True, 2], "sizes")
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1, got 0"):
        v.check_int_list([4, 0], "sizes", min=1)
    with pytest.raises(ValueError, match=r"sizes\[0\] must be <= 9, got 10"):
        v.check_int_list([10], "sizes", max=9)
    with pytest.raises(ValueError, match=r"sizes must hold at least 2 integers, got 1: \[4\]"):
        v.check_int_list([4], "sizes", min_length=2)
    with pytest.raises(ValueError, match="pair must hold 2 integers, got 3"):
        v.check_int_list((1, 2, 3), "pair", length=2)
    assert v.check_int_list([], "empty") == []


def test_as_bool_array():
    import torch

    assert v.as_bool_array([[True, False]], "mask").dtype == bool
    assert v.as_bool_array(torch.ones(2, dtype=torch.bool), "mask").tolist() == [True, True]
    with pytest.raises(TypeError, match=r"mask must be boolean \(True = keep\), got dtype int64"):
        v.as_bool_array(np.array([1, 0]), "mask", what="True = keep")  # 0/1 would index, not mask
    with pytest.raises(TypeError, match="mask must be boolean, got dtype float"):
        v.as_bool_array([1.0], "mask")
    with pytest.raises(TypeError, match="mask must be a boolean array, got None"):
        v.as_bool_array(None, "mask")
    with pytest.raises(ValueError, match="mask must be 2-D"):
        v.as_bool_array([True], "mask", ndim=2)
