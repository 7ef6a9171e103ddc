"""Data for the training chapter: scikit-learn's bundled digits, MNIST's IDX files, minibatches.

* :func:`load_digits_split` -- the 1,797 handwritten digits (8x8, grey levels
  0..16) that ship inside scikit-learn (no download), scaled to [0, 1] and
  split into train and test sets with the same share of every class in both.
* :func:`load_digits_splits` -- the same digits in three parts, train,
  validation and test; the test part is the test set of ``load_digits_split``.

How the digits were made (scikit-learn's description of the data set, the
UCI "optical recognition of handwritten digits" data of Alpaydin and Kaynak):
NIST's programs cut 32x32 bitmaps of digits out of forms filled in by hand; each
8x8 image counts the "on" pixels in the 4x4 blocks of one bitmap (hence 0..16).
Of the 43 writers, 30 wrote the UCI training set and 13 others its test set;
scikit-learn ships that test set, so the 1,797 digits come from 13 writers and
a random split puts every writer on both sides.
* :func:`read_idx` -- the IDX format of the MNIST files, for readers who have
  them on disk (plain or gzip-compressed).  Nothing here downloads anything.
* :func:`minibatches` -- shuffled index batches for one epoch.

The IDX format: a 4-byte magic number ``00 00 TT DD`` (two zero bytes, the
type code TT, the number of dimensions DD), then DD sizes as big-endian
unsigned 32-bit ints, then the values in C order, big-endian.  Type codes:
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import numbers
import os
from typing import NamedTuple

import numpy as np

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def stratified_split(labels, *, test_size, seed):
    """Indices (train, test) with about the same share of each class in both.

    labels: (N,) ints.  test_size: fraction in (0, 1).  For every class with
    n samples, round(test_size * n) of them, chosen by a Generator seeded
    with ``seed``, go to the test set.  Both index arrays are sorted.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got dtype {labels.dtype} shape {labels.shape}")
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(_int(seed, "seed", 0))
    test = []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        take = int(round(test_size * members.size))
        test.append(rng.permutation(members)[:take])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(labels.size), test)
    return train, test


def stratified_split3(labels, *, val_size, test_size, seed):
    """Indices (train, val, test) with about the same share of each class in all three.

    labels: (N,) ints.  val_size, test_size: fractions with val_size + test_size < 1.
    For every class with n samples, one permutation (a Generator seeded with
    ``seed``) is cut into round(test_size * n) test samples, then round(val_size * n)
    validation samples, then the rest for training.  The test indices are
    exactly those of ``stratified_split(labels, test_size=test_size, seed=seed)``:
    the validation set is carved out of that split's training set.  Sorted arrays.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got dtype {labels.dtype} shape {labels.shape}")
    for name, v in (("val_size", val_size), ("test_size", test_size)):
        if not (isinstance(v, numbers.Real) and 0 < v < 1):
            raise ValueError(f"{name} must be a fraction in (0, 1), got {v!r}")
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be < 1 to leave a training set, got "
                         f"{val_size!r} + {test_size!r}")
    rng = np.random.default_rng(_int(seed, "seed", 0))
    parts = ([], [], [])
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        n_test, n_val = int(round(test_size * members.size)), int(round(val_size * members.size))
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def _digits(dtype):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(dt)[:, None, :, :]
    return x, digits.target.astype(np.int64)


class DigitsSplits(NamedTuple):
    """The digits in three parts: x_* (N_*, 1, 8, 8) in [0, 1], y_* (N_*,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_splits(*, val_size=0.2, test_size=0.25, seed=0, dtype=np.float64) -> DigitsSplits:
    """scikit-learn's 8x8 digits, scaled to [0, 1], in a fixed stratified train/validation/test split.

    Returns a DigitsSplits (x_train, y_train, x_val, y_val, x_test, y_test), the
    images (N, 1, 8, 8) in ``dtype`` (float32 or float64) and the labels (N,) int64;
    the three parts partition the 1,797 digits (see :func:`stratified_split3`).
    With the defaults: 988 training, 359 validation and 450 test digits, the
    test part being that of ``load_digits_split(test_size=0.25, seed=0)``.
    """
    x, y = _digits(dtype)
    train, val, test = stratified_split3(y, val_size=val_size, test_size=test_size, seed=seed)
    return DigitsSplits(x[train], y[train], x[val], y[val], x[test], y[test])


def load_digits_split(*, test_size=0.25, seed=0, dtype=np.float64):
    """scikit-learn's 8x8 digits, scaled to [0, 1], in a fixed stratified split.

    Returns x_train (N_train, 1, 8, 8), y_train (N_train,) int64,
    x_test (N_test, 1, 8, 8), y_test (N_test,) int64, with N_train + N_test = 1797.
    The grey levels 0..16 are divided by 16.  dtype: float32 or float64.
    Requires scikit-learn (the data ships inside it; nothing is downloaded).
    """
    x, y = _digits(dtype)
    train, test = stratified_split(y, test_size=test_size, seed=seed)
    return x[train], y[train], x[test], y[test]


def minibatches(n, *, batch_size, rng):
    """Index arrays of one shuffled epoch over n samples, batch_size each (the last may be smaller).

    rng: a numpy Generator (its state advances, so the next epoch is shuffled differently).
    """
    n = _int(n, "n", 1)
    batch_size = _int(batch_size, "batch_size", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    order = rng.permutation(n)
    return [order[k : k + batch_size] for k in range(0, n, batch_size)]


# --------------------------------------------------------------------------- IDX (MNIST)


def parse_idx(data: bytes) -> np.ndarray:
    """The array stored in the bytes of an IDX file (already decompressed).

    Raises ValueError for a bad magic number, an unknown type code, or a
    length that does not match the header (truncated or trailing bytes).
    Returns the values in native byte order with the dtype of the type code.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4:
        raise ValueError(f"data is too short for an IDX header: {len(data)} bytes, expected at least 4")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"bad IDX magic number {data[:4].hex()}: the first two bytes must be 00 00 "
            f"(is this an IDX file, or a compressed one that was not decompressed?)"
        )
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"unknown IDX type code 0x{code:02X} in the magic number; expected one of {known}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"truncated IDX header: {ndim} dimensions need {header} bytes, got {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"IDX data {what}: shape {dims} of {dtype.name} needs {expected} bytes, got {len(data)}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (e.g. MNIST's train-images-idx3-ubyte) from a local path.

    gzip-compressed files (``.gz``, recognised by their first two bytes 1f 8b)
    are decompressed.  Returns e.g. uint8 (60000, 28, 28) for MNIST images
    and uint8 (60000,) for labels.  ValueError on a malformed file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"path {os.fspath(path)!r} is a damaged gzip file: {err}") from err
    return parse_idx(data)


def load_mnist_idx(images_path, labels_path, *, dtype=np.float32):
    """MNIST images and labels from two local IDX files.

    Returns x (N, 1, 28, 28) scaled to [0, 1] in ``dtype`` and y (N,) int64.
    ValueError when the files disagree on N or do not hold images/labels.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(f"images_path must hold an (N, H, W) array, got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels_path must hold ({images.shape[0]},) labels to match the images, got {labels.shape}"
        )
    x = (images.astype(dtype) / 255.0).astype(dtype)[:, None]
    return x, labels.astype(np.int64)


def write_idx(path, array) -> None:
    """Write an array as an IDX file (gzip-compressed if path ends in .gz).

    array: any shape (at most 255 dims) of a dtype with an IDX type code.
    Used by the tests and handy for making small files to try read_idx on.
    """
    array = np.asarray(array)
    codes = {v.newbyteorder("=").str[1:]: k for k, v in IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in codes:
        raise ValueError(f"array dtype {array.dtype} has no IDX type code; use one of uint8, int8, int16, int32, float32, float64")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(IDX_TYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with open(path, "wb") as fh:
        fh.write(payload)
