"""The machinery shared by every checker: cases, mutants, the run, the report.

A :class:`Checker` knows a reference implementation (``cnnbook``'s own), a
list of crafted :class:`Case` objects ordered from smallest to largest, and a
catalogue of :class:`Mutant` objects: the reference with one specific,
commonly made mistake.  Calling the checker on a reader's function runs it on
every case; on the first (smallest) case where an output disagrees with the
reference, the reader's output is compared with every mutant's output on the
same case, and the mutant that matches names the mistake.

A checker never lets a reader's problem escape as an exception: an exception,
``None``, a tuple of the wrong length, a wrong shape, NaNs and wrong values
all become a :class:`Report` with a diagnosis.
"""

from __future__ import annotations

import copy
import html
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np


class ExerciseError(AssertionError):
    """Raised by :meth:`Report.raise_if_wrong`; its message is the report."""


NOT_ATTEMPTED = ("not attempted yet: the function above still raises NotImplementedError. "
                 "Replace that line with your code and run this cell again.")
"""The diagnosis of a report on an untouched exercise stub."""

REPORT_MIME_KEY = "cnnbook"
"""The key of a report's machine-readable summary in its output metadata (read by the grader)."""


@dataclass(frozen=True)
class Case:
    """One crafted input.

    label: a short description ("N=2, 3x3 input, 2x2 kernel, stride 2").
    args: the positional arguments passed to the function under test.
    """

    label: str
    args: tuple

    @property
    def size(self) -> int:
        """Number of numbers in the array arguments (the order of the cases)."""
        total = 0
        for a in self.args:
            if isinstance(a, np.ndarray):
                total += a.size
            elif isinstance(a, tuple) and hasattr(a, "_fields"):  # a cache
                total += sum(v.size for v in a if isinstance(v, np.ndarray))
        return total


@dataclass(frozen=True)
class Mutant:
    """The reference with one known mistake.

    key: a short identifier (``"dw_flipped"``); diagnosis: the sentence shown
    to the reader; fn: a function with the reference's signature;
    outputs: the names of the outputs the mistake changes (None: all).
    """

    key: str
    diagnosis: str
    fn: Callable
    outputs: tuple[str, ...] | None = None


@dataclass
class Report:
    """What a checker found.

    ok: True if every case agreed with the reference.
    diagnosis: "correct ..." or the named mistake(s) / the problem found.
    mistakes: keys of the recognised mistakes (``()`` if none was recognised;
      ``("exception",)``, ``("bad_return",)``, ``("shape",)``, ``("nan",)`` or
      ``("values",)`` for the generic problems).
    case: None if ok, else {"label", "inputs", "expected", "got"} for the
      smallest failing case (inputs: {name: value}; expected/got: {output: array}
      for the outputs that are wrong).
    """

    title: str
    ok: bool
    diagnosis: str
    mistakes: tuple[str, ...] = ()
    case: dict | None = None
    passed: int = 0
    total: int = 0
    checker: str = ""
    deliberate: bool = False

    @property
    def attempted(self) -> bool:
        """False for an untouched stub (it raised NotImplementedError)."""
        return self.mistakes != ("not_attempted",)

    @property
    def status(self) -> str:
        """"passed", "not attempted" or "wrong"."""
        if self.ok:
            return "passed"
        return "wrong" if self.attempted else "not attempted"

    def as_deliberate(self) -> "Report":
        """Mark the report as a planted mistake: shown as a demonstration, not a failure,
        and skipped by the grader."""
        self.deliberate = True
        return self

    def summary(self) -> dict:
        """What the grader reads: checker, title, status, mistakes, diagnosis."""
        return dict(checker=self.checker, title=self.title, status=self.status,
                    mistakes=list(self.mistakes), diagnosis=self.diagnosis,
                    deliberate=self.deliberate, passed=self.passed, total=self.total)

    @property
    def mistake(self) -> str | None:
        """The key of the first recognised mistake, or None."""
        return self.mistakes[0] if self.mistakes else None

    def raise_if_wrong(self) -> "Report":
        if not self.ok:
            raise ExerciseError(str(self))
        return self

    def __bool__(self) -> bool:  # `assert report` works like `assert report.ok`
        return self.ok

    # ------------------------------------------------------------------ display
    def _lines(self) -> list[str]:
        if self.ok:
            return [f"{self.title}: {self.diagnosis}"]
        if not self.attempted:
            return [f"{self.title}: not attempted yet", self.diagnosis]
        head = f"{self.title}: WRONG (passed {self.passed} of {self.total} cases)"
        if self.deliberate:
            head = f"Deliberate mistake, planted to show the report. {head}"
        lines = [head, self.diagnosis]
        if self.case is not None:
            lines.append(f"Smallest failing case: {self.case['label']}")
            for name, value in self.case["inputs"].items():
                lines.append(_format_value(name, value))
            for name in self.case["expected"]:
                lines.append(_format_value(f"expected {name}", self.case["expected"][name]))
                lines.append(_format_value(f"got {name}", self.case["got"].get(name)))
        return lines

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # The summary rides in the output's metadata, invisible to every renderer, so that
        # `python -m cnnbook.exercises grade` can read the verdicts of an executed notebook.
        data = {"text/plain": str(self), "text/html": self._repr_html_()}
        return data, {REPORT_MIME_KEY: self.summary()}

    def _repr_html_(self) -> str:
        if self.ok:
            colour = "#2a9d8f"
        elif not self.attempted:
            colour = "#457b9d"
        else:
            colour = "#e9c46a" if self.deliberate else "#e76f51"
        lines = self._lines()
        head = html.escape(lines[0])
        body = ""
        if not self.ok:
            body = f'<p style="margin:4px 0">{html.escape(lines[1])}</p>'
            if len(lines) > 2:
                body += ('<pre style="margin:4px 0;font-size:90%;white-space:pre-wrap">'
                         + html.escape("\n".join(lines[2:])) + "</pre>")
        return (f'<div class="cnnbook-report" style="border-left:4px solid {colour};'
                f'padding:4px 10px;margin:6px 0"><b>{head}</b>{body}</div>')


def _format_value(name: str, value: Any) -> str:
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple cache
        return "\n".join(_format_value(f"{name}.{f}", v) for f, v in zip(value._fields, value) if v is not None)
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, suppress_small=True, max_line_width=100)
        text = "\n".join(line for line in text.splitlines() if line.strip())  # no blank lines between blocks
        if value.ndim >= 2 or len(text) > 60:
            pad = " " * 4
            return f"  {name} {value.shape} =\n" + "\n".join(pad + ln for ln in text.splitlines())
        return f"  {name} = {text}"
    if callable(value):
        return f"  {name} = {getattr(value, '__name__', repr(value))}"
    return f"  {name} = {value!r}"


def _call_quietly(fn: Callable, args: tuple):
    """fn(*copies of args) with every warning turned into an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*copy.deepcopy(args))


def _normalize(value, outputs: Sequence[str]):
    """The returned value as a list of float arrays, or (None, problem)."""
    k = len(outputs)
    names = ", ".join(outputs)
    if value is None:
        return None, "your function returned None (is a `return` statement missing?)"
    if isinstance(value, dict):
        if k == 1:
            return None, f"your function returned a dict, expected one array ({names})"
        missing = [n for n in outputs if n not in value]
        if missing:
            return None, (f"your function returned a dict without the key(s) {missing}; "
                          f"expected the keys {list(outputs)}")
        items = [value[n] for n in outputs]
    elif k > 1:
        if not isinstance(value, (tuple, list)):
            return None, (f"your function returned a single {type(value).__name__}, "
                          f"expected a tuple of {k} values ({names})")
        if len(value) != k:
            return None, (f"your function returned a tuple of {len(value)} values, "
                          f"expected {k} ({names})")
        items = list(value)
    else:
        if isinstance(value, tuple):
            return None, (f"your function returned a tuple of {len(value)} values, "
                          f"expected one array ({names})")
        items = [value]
    arrays = []
    for name, item in zip(outputs, items):
        if item is None:
            return None, f"{name} is None (is it never assigned?)"
        try:
            arr = np.asarray(item)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"dtype {arr.dtype}")
            arrays.append(arr.astype(np.float64))
        except (TypeError, ValueError) as err:
            return None, f"{name} is not an array of real numbers ({type(item).__name__}: {err})"
    return arrays, None


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1.0)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True))


@dataclass
class Checker:
    """A reusable checker: ``report = checker(reader_fn)``.

    title: the name shown in reports.  reference: the right answer, a function
    of the case arguments.  cases: crafted, smallest first.  mutants: known
    mistakes.  outputs: names of the returned values (one name: a single array
    is returned).  arg_names: how the case arguments are shown (a name starting
    with "_" is not shown).  compose: turns the reader's function(s) into one
    function of the case arguments (default: the single function itself).
    """

    title: str
    reference: Callable
    cases: Sequence[Case]
    mutants: Sequence[Mutant] = ()
    outputs: tuple[str, ...] = ("result",)
    arg_names: tuple[str, ...] = ()
    compose: Callable | None = None
    rtol: float = 1e-7
    atol: float = 1e-9
    name: str = ""

    def __post_init__(self):
        self.cases = tuple(self.cases)
        self.mutants = tuple(self.mutants)
        keys = [m.key for m in self.mutants]
        if len(set(keys)) != len(keys):
            raise ValueError(f"mutant keys must be unique, got {keys}")

    def mutant(self, key: str) -> Mutant:
        for m in self.mutants:
            if m.key == key:
                return m
        raise KeyError(f"{self.title} has no mutant {key!r}; it knows {[m.key for m in self.mutants]}")

    def _inputs(self, case: Case) -> dict:
        names = self.arg_names or tuple(f"arg{i}" for i in range(len(case.args)))
        return {n: a for n, a in zip(names, case.args) if not n.startswith("_")}

    def __call__(self, *fns: Callable) -> Report:
        report = self._run(*fns)
        report.checker = self.name
        return report

    def _run(self, *fns: Callable) -> Report:
        fn = self.compose(*fns) if self.compose is not None else fns[0]
        total = len(self.cases)
        for index, case in enumerate(self.cases):
            inputs = self._inputs(case)
            expected, _ = _normalize(_call_quietly(self.reference, case.args), self.outputs)
            try:
                raw = _call_quietly(fn, case.args)
            except NotImplementedError:
                if index == 0:  # the untouched stub: guidance, not a failure
                    return not_attempted(self.title, total)
                return Report(self.title, False, "your function raised NotImplementedError on this case",
                              ("exception",), dict(label=case.label, inputs=inputs, expected={}, got={}),
                              index, total)
            except Exception as err:  # noqa: BLE001 - any reader error becomes a report
                hint = ""
                if isinstance(err, (RuntimeWarning, FloatingPointError)):
                    hint = " (a numerical warning: the computation is not stable for this input)"
                return Report(self.title, False,
                              f"your function raised {type(err).__name__}: {err}{hint}",
                              ("exception",), dict(label=case.label, inputs=inputs, expected={}, got={}),
                              index, total)
            got, problem = _normalize(raw, self.outputs)
            if problem is not None:
                return Report(self.title, False, problem, ("bad_return",),
                              dict(label=case.label, inputs=inputs, expected={}, got={}), index, total)
            wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not _close(g, e, self.rtol, self.atol)]
            if not wrong:
                continue
            diagnoses, keys = [], []
            mutant_outputs: dict[str, list | None] = {}
            for i in wrong:
                name, g, e = self.outputs[i], got[i], expected[i]
                found = None
                for m in self.mutants:
                    if m.outputs is not None and name not in m.outputs:
                        continue
                    if m.key not in mutant_outputs:
                        try:
                            mutant_outputs[m.key] = _normalize(_call_quietly(m.fn, case.args), self.outputs)[0]
                        except Exception:  # noqa: BLE001 - a mutant may fail on a case
                            mutant_outputs[m.key] = None
                    mo = mutant_outputs[m.key]
                    if mo is not None and _close(g, mo[i], self.rtol, self.atol) \
                            and not _close(mo[i], e, self.rtol, self.atol):
                        found = m
                        break
                prefix = f"{name}: " if len(self.outputs) > 1 else ""
                if found is not None:
                    same = [k for k, d in enumerate(diagnoses) if d.endswith(": " + found.diagnosis)]
                    if same:  # the same mistake in several outputs: name them together
                        head, _, text = diagnoses[same[0]].partition(": ")
                        diagnoses[same[0]] = f"{head}, {name}: {text}"
                        if found.key not in keys:
                            keys.append(found.key)
                    else:
                        diagnoses.append(prefix + found.diagnosis)
                        keys.append(found.key)
                elif g.shape != e.shape:
                    hint = " (the transpose of the expected shape)" if g.shape == e.shape[::-1] else ""
                    diagnoses.append(f"{prefix}returned shape {g.shape}, expected {e.shape}{hint}")
                    keys.append("shape")
                elif not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
                    bad = tuple(int(k) for k in np.argwhere(~np.isfinite(g))[0])
                    diagnoses.append(f"{prefix}contains {g[bad]} at index {bad} where the answer is {e[bad]:.6g}")
                    keys.append("nan")
                else:
                    diff = np.abs(g - e)
                    worst = tuple(int(k) for k in np.unravel_index(np.argmax(diff), e.shape))
                    where = f" at index {worst}" if e.ndim else ""
                    diagnoses.append(f"{prefix}wrong values{where}: expected {e[worst]:.6g}, got "
                                     f"{g[worst]:.6g} ({int(np.sum(diff > self.atol))} of {e.size} entries "
                                     f"differ); this is none of the mistakes the checker knows")
                    keys.append("values")
            shown = [self.outputs[i] for i in wrong]
            case_info = dict(label=case.label, inputs=inputs,
                             expected={n: expected[self.outputs.index(n)] for n in shown},
                             got={n: got[self.outputs.index(n)] for n in shown})
            return Report(self.title, False, "\n".join(diagnoses), tuple(keys), case_info, index, total)
        return Report(self.title, True, f"correct (all {total} cases agree with cnnbook)", (), None, total, total)


def not_attempted(title: str, total: int = 0) -> Report:
    """The report on an untouched stub."""
    return Report(title, False, NOT_ATTEMPTED, ("not_attempted",), None, 0, total)


@dataclass
class PropertyChecker:
    """A checker for exercises whose answer is judged by properties, not by one reference
    output (a derivative's order of accuracy, an operation count, a graph engine).

    checks: (label, fn) pairs, run in order on the reader's function(s); a check raises
    AssertionError with a message that names the mistake, or returns None.
    The first failing check becomes the report.  NotImplementedError from the reader's
    code on the first check means the stub is untouched.
    """

    title: str
    checks: Sequence[tuple[str, Callable]]
    name: str = ""

    def __post_init__(self):
        self.checks = tuple(self.checks)

    def __call__(self, *fns: Callable) -> Report:
        total = len(self.checks)
        for index, (label, check) in enumerate(self.checks):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    check(*fns)
            except NotImplementedError:
                report = (not_attempted(self.title, total) if index == 0 else
                          Report(self.title, False, f"{label}: your function raised NotImplementedError",
                                 ("exception",), None, index, total))
            except AssertionError as err:
                key, _, text = str(err).partition(": ") if str(err).startswith("[") else ("", "", str(err))
                report = Report(self.title, False, f"{label}: {text}",
                                (key.strip("[]") or "values",), None, index, total)
            except Exception as err:  # noqa: BLE001 - any reader error becomes a report
                report = Report(self.title, False, f"{label}: your function raised {type(err).__name__}: {err}",
                                ("exception",), None, index, total)
            else:
                continue
            report.checker = self.name
            return report
        return Report(self.title, True, f"correct (all {total} checks pass)", (), None, total, total,
                      checker=self.name)
