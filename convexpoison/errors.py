"""Exceptions shared by the whole package.

Two kinds of failure matter to users and to the command line:

* :class:`InputError` -- the caller gave something wrong (a shape, a NaN, an unknown
  dataset, an infeasible constraint set).  The CLI prints its one-line message and
  exits with status 2.
* :class:`SolverFailure` -- a solver did not return a proven optimum.  It carries the
  solver's name and status; the CLI exits with status 1.  A certificate is never
  computed from a problem that raised this.
"""


class ConvexPoisonError(Exception):
    """Base class of every error raised on purpose by convexpoison."""


class InputError(ConvexPoisonError, ValueError):
    """Bad input: the message names the offending argument in one line."""


class SolverFailure(ConvexPoisonError, RuntimeError):
    """A solver finished without a proven optimum.

    Attributes
    ----------
    solver : str
        Name of the solver that was tried last.
    status : str
        The status string the solver (through cvxpy) reported.
    """

    def __init__(self, message, solver=None, status=None):
        super().__init__(message)
        self.solver = solver
        self.status = status
