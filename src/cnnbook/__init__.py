"""cnnbook: the layers of a convolutional network, derived and verified.

Every layer is a pair of plain functions::

    y, cache = layer_forward(x, ...)      # keeps what the backward needs
    dx, ... = layer_backward(dy, cache)   # dy = dE/dy, the upstream gradient

Shape vocabulary (used in every docstring)
------------------------------------------
N   batch size                  C    input channels
F   filters (output channels)   H, W input height and width
KH, KW kernel height and width  OH, OW output height and width

Images are NCHW.  ``OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1``
(and the same for OW; with dilation 1 it is ``(H + 2*pad - KH) // stride + 1``).  Dense layers use row vectors: ``y = x @ w + b`` with x (N, D),
w (D, M), b (M,).  ``delta`` / ``dy`` is always dE/d(that layer's output).

"Convolution" here, as in every deep-learning framework, is
cross-correlation; :func:`cnnbook.conv.convolve2d` is the true convolution.

Losses are averaged over the batch: E = (1/N) * sum of per-sample losses,
so every loss gradient carries a factor 1/N.

Modules: ``losses``, ``activations``, ``softmax``, ``fc``, ``pooling``,
``conv`` (the layers, with dilation, groups and the transposed convolution);
``matrices`` (a layer written as the matrix A of y = A x); ``gradcheck``
(numerical gradients); ``model`` (a small container that chains the layers,
and SGD); ``training`` (the training lab's runs); ``data`` (the bundled
digits and their train/validation/test split, MNIST IDX files); ``timing``
(medians of repeated runs, per-layer profiles); ``reference`` (the same
layers in JAX, the independent autodiff check); ``plotting`` and ``widgets``
(the book's views and explorers); ``exercises`` (checkers that name the
mistake); ``memory`` (where NumPy's arrays get their memory).

Importing cnnbook makes the C library keep freed memory for reuse, since fresh memory costs a
page fault per 4 KiB page on every call (see :mod:`cnnbook.memory`; set the environment variable
``CNNBOOK_KEEP_FREED_MEMORY=0`` to leave the C library as it is).
"""

import os as _os

from . import memory as _memory

__version__ = "0.1.0"

if _os.environ.get("CNNBOOK_KEEP_FREED_MEMORY", "1") != "0":
    _memory.keep_freed_memory()
