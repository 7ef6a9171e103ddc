"""cnnbook.data: the digits split, minibatches, and the IDX reader on files written here."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnbook import data


def test_digits_split_is_stratified_scaled_and_fixed():
    x_tr, y_tr, x_te, y_te = data.load_digits_split(test_size=0.25, seed=0)
    assert x_tr.shape[1:] == (1, 8, 8) and x_te.shape[1:] == (1, 8, 8)
    assert len(x_tr) + len(x_te) == 1797 and len(y_tr) == len(x_tr) and len(y_te) == len(x_te)
    assert x_tr.dtype == np.float64 and x_tr.min() == 0 and x_tr.max() == 1
    counts_all = np.bincount(np.concatenate([y_tr, y_te]))
    np.testing.assert_array_equal(np.bincount(y_te), np.round(0.25 * counts_all))
    again = data.load_digits_split(test_size=0.25, seed=0, dtype=np.float32)
    np.testing.assert_array_equal(again[3], y_te)
    assert again[0].dtype == np.float32
    other = data.load_digits_split(test_size=0.25, seed=1)
    assert not np.array_equal(other[3], y_te)


def test_three_way_split_carves_validation_out_of_the_two_way_training_set():
    splits = data.load_digits_splits(val_size=0.2, test_size=0.25, seed=0)
    assert isinstance(splits, data.DigitsSplits) and len(splits) == 6
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (988, 359, 450)
    two_way = data.load_digits_split(test_size=0.25, seed=0)
    np.testing.assert_array_equal(splits.x_test, two_way[2])          # the same test set as before
    np.testing.assert_array_equal(splits.y_test, two_way[3])
    counts = np.bincount(np.concatenate([splits.y_train, splits.y_val, splits.y_test]))
    np.testing.assert_array_equal(np.bincount(splits.y_val), np.round(0.2 * counts))
    np.testing.assert_array_equal(np.bincount(splits.y_test), np.round(0.25 * counts))
    # train and validation together are exactly the two-way training set
    both = np.concatenate([splits.x_train, splits.x_val]).reshape(-1, 64)
    key = lambda a: sorted(map(bytes, (a * 16).astype(np.uint8)))
    assert key(both) == key(two_way[0].reshape(-1, 64))
    assert data.load_digits_splits(dtype=np.float32).x_val.dtype == np.float32


@pytest.mark.parametrize("n_per_class", [[10, 4, 6], [1, 2, 3], [50, 50]])
def test_stratified_split3_partitions_the_indices(n_per_class):
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class)
    train, val, test = data.stratified_split3(labels, val_size=0.3, test_size=0.2, seed=4)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(labels.size))
    np.testing.assert_array_equal(np.bincount(labels[test], minlength=len(n_per_class)),
                                  [round(0.2 * n) for n in n_per_class])
    np.testing.assert_array_equal(np.bincount(labels[val], minlength=len(n_per_class)),
                                  [round(0.3 * n) for n in n_per_class])
    np.testing.assert_array_equal(test, data.stratified_split(labels, test_size=0.2, seed=4)[1])


def test_stratified_split_partitions_the_indices():
    labels = np.array([0] * 10 + [1] * 4 + [2] * 6)
    train, test = data.stratified_split(labels, test_size=0.5, seed=3)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(20))
    np.testing.assert_array_equal(np.bincount(labels[test]), [5, 2, 3])


def test_minibatches_cover_every_sample_once():
    batches = data.minibatches(10, batch_size=4, rng=np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    data.write_idx(path, a)
    out = data.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)


def test_idx_header_is_read_big_endian_by_hand(tmp_path):
    # magic 00 00 08 01, one dimension of size 3 (big-endian 00 00 00 03), values 7 8 9
    raw = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9])
    np.testing.assert_array_equal(data.parse_idx(raw), [7, 8, 9])
    # int16 258 = 0x0102 stored big-endian as 01 02
    raw16 = bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2])
    assert data.parse_idx(raw16)[0] == 258
    (tmp_path / "f.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.gz"), [7, 8, 9])


def test_mnist_like_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    data.write_idx(tmp_path / "img-idx3-ubyte.gz", images)
    data.write_idx(tmp_path / "lab-idx1-ubyte", labels)
    x, y = data.load_mnist_idx(tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte")
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and x.max() <= 1
    np.testing.assert_allclose(x[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(ValueError, match="labels_path"):
        data.write_idx(tmp_path / "short", labels[:4])
        data.load_mnist_idx(tmp_path / "img-idx3-ubyte.gz", tmp_path / "short")


@pytest.mark.parametrize("raw, match", [
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "magic"),
    (gzip.compress(bytes([0, 0, 8, 1]), mtime=0), "magic"),  # compressed bytes given to parse_idx (mtime=0: the same test id in every worker)
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "type code"),
    (bytes([0, 0, 8, 2, 0, 0, 0, 2]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "trailing"),
    (bytes([0, 0]), "too short"),
])
def test_malformed_idx_raises(raw, match):
    with pytest.raises(ValueError, match=match):
        data.parse_idx(raw)


def test_truncated_file_and_damaged_gzip(tmp_path):
    data.write_idx(tmp_path / "a.idx", np.zeros((4, 4), np.uint8))
    whole = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "cut.idx").write_bytes(whole[:-3])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "cut.idx")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(whole)[:-6])
    with pytest.raises(ValueError, match="gzip"):
        data.read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("call, match", [
    (lambda: data.load_digits_split(dtype=np.int64), "dtype"),
    (lambda: data.stratified_split(np.array([0, 1]), test_size=1.5, seed=0), "test_size"),
    (lambda: data.stratified_split(np.array([0.0, 1.0]), test_size=0.5, seed=0), "labels"),
    (lambda: data.stratified_split3(np.array([0, 1]), val_size=0.5, test_size=0.5, seed=0), "val_size \\+ test_size"),
    (lambda: data.stratified_split3(np.array([0, 1]), val_size=0, test_size=0.5, seed=0), "val_size"),
    (lambda: data.stratified_split3(np.array([0.5, 1]), val_size=0.2, test_size=0.5, seed=0), "labels"),
    (lambda: data.load_digits_splits(dtype=np.int32), "dtype"),
    (lambda: data.minibatches(10, batch_size=0, rng=np.random.default_rng()), "batch_size"),
    (lambda: data.minibatches(10, batch_size=2, rng=0), "rng"),
    (lambda: data.read_idx(123), "path"),
    (lambda: data.write_idx("/nonexistent/x", np.zeros(2, np.int64)), "IDX type code"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
