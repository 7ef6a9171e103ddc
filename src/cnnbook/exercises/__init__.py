"""Exercise checkers that name the mistake.

Every checker is called on the reader's function and returns a
:class:`~cnnbook.exercises._core.Report`::

    report = check_conv2d_backward(my_conv2d_backward)
    report            # "correct", or the diagnosis and the smallest failing case
    assert report.ok  # or report.raise_if_wrong()

A checker runs the function on crafted cases, smallest first, and compares it
with ``cnnbook``'s own implementation.  When an answer is wrong, it compares the
answer with a catalogue of *mutants* -- the reference with one known mistake --
on the same case, and reports the mistake whose output matches; otherwise it
reports the wrong shape, NaN or value with the smallest failing case.  An
exception, ``None``, a tuple of the wrong length or a wrong shape is reported,
never raised.

One submodule per chapter: :mod:`~cnnbook.exercises.chain_rule`,
:mod:`~cnnbook.exercises.losses`, :mod:`~cnnbook.exercises.activations`,
:mod:`~cnnbook.exercises.softmax`, :mod:`~cnnbook.exercises.fc`,
:mod:`~cnnbook.exercises.pooling`, :mod:`~cnnbook.exercises.conv`,
:mod:`~cnnbook.exercises.conv_family`,
:mod:`~cnnbook.exercises.cnn`, :mod:`~cnnbook.exercises.training`,
:mod:`~cnnbook.exercises.fast`.  Each
checker lists its mutants in ``checker.mutants`` (``key``, ``diagnosis``).
"""

from ._core import NOT_ATTEMPTED, Case, Checker, ExerciseError, Mutant, PropertyChecker, Report, not_attempted
from .activations import check_leaky_relu, check_sigmoid_backward, check_tanh_grad_via_sigmoid
from .chain_rule import check_five_point, check_node_ops, check_tanh_neuron
from .cnn import check_global_avg_pool, check_locate_bug
from .conv import (check_conv2d_backward, check_conv_input_grad, check_conv_kernel_grad,
                   check_conv_kernel_grad_2d, check_dw_typos)
from .conv_family import check_avgpool_divisors, check_conv_transpose2d, check_output_padding
from .fast import check_pool_reshape, check_rows_conv
from .training import check_momentum_stable_lr
from .fc import check_column_fc_backward, check_fc_backward, check_largest_stable_lr, check_mlp2_backward
from .losses import (check_bce_with_logit, check_label_smoothing, check_mse_grad_flat_targets, check_mse_sum,
                     check_softmax_mse_grad)
from .pooling import check_avgpool_backward, check_maxpool_backward, check_window_sums
from .softmax import check_log_softmax_jacobian, check_softmax_backward

CHECKERS = {
    name: obj for name, obj in globals().items()
    if name.startswith("check_") and isinstance(obj, (Checker, PropertyChecker))
}
"""Every checker by name (used by the tests and by the grader)."""

for _name, _checker in CHECKERS.items():
    _checker.name = _name  # reports carry it, so the grader knows which exercise they belong to

__all__ = ["Case", "Checker", "ExerciseError", "Mutant", "PropertyChecker", "Report", "NOT_ATTEMPTED",
           "not_attempted", "CHECKERS", *sorted(CHECKERS)]
