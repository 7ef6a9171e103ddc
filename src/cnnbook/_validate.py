"""Argument checks shared by every layer.

Each check raises ``ValueError`` whose message names the argument, says what
was received (shape, ndim or value) and what was expected, so that a reader's
mistake is reported where it happens instead of being broadcast away.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_array(a, name: str, *, allow_object: bool = False) -> np.ndarray:
    """Return ``a`` as an ndarray of a floating dtype (ints and bools become float64).

    float32 stays float32 so that a float32 input gives float32 results.  Object
    arrays (e.g. of sympy symbols) are accepted only by the loop references.
    """
    arr = np.asarray(a)
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "iub":
        return arr.astype(np.float64)
    if kind == "O" and allow_object:
        return arr
    expected = "a real numeric array" + (" (or an object array)" if allow_object else "")
    raise ValueError(f"{name} must be {expected}, got dtype {arr.dtype}")


def check_ndim(arr: np.ndarray, name: str, ndim: int, layout: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {layout}, "
            f"got {arr.ndim}-D shape {arr.shape}"
        )


def check_same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape, "
            f"got {a_name} {a.shape} and {b_name} {b.shape} (no broadcasting)"
        )


def check_shape(arr: np.ndarray, name: str, expected: tuple, why: str = "") -> None:
    if arr.shape != tuple(expected):
        extra = f" ({why})" if why else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{extra}, got {arr.shape}")


def pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= ``minimum``, as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(
                f"{name} must be an int or an (h, w) pair of ints, got {value!r}"
            )
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def positive_int(value, name: str) -> int:
    """A single int >= 1 (not a pair: e.g. ``groups``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def flag(value, name: str) -> bool:
    """A bool (Python or NumPy), e.g. ``ceil_mode``: 0/1 or strings are refused, not guessed."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*arrays)
