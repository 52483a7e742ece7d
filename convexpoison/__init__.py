"""convexpoison: how much can an adversary who adds a few training points hurt a model -- proven.

Attacks and certificates on convex models are disciplined convex or mixed-integer
programs solved by real solvers; see DESIGN.md and the documentation in ``docs/``.

The names most users need::

    from convexpoison import load_dataset, train
    data = load_dataset("mnist17")
    model = train(data.X_train, data.y_train, model="svm", reg=data.reg)
"""
__version__ = "0.1.0"

from .errors import ConvexPoisonError, InputError, SolverFailure  # noqa: F401
from .domain import Domain  # noqa: F401
from .training import LinearModel, train, objective  # noqa: F401
from .defender import Defender  # noqa: F401


def __getattr__(name):
    # datasets are imported lazily so that ``import convexpoison`` stays cheap
    if name in ("load_dataset", "list_datasets", "from_arrays", "from_csv", "Dataset"):
        from . import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'convexpoison' has no attribute {name!r}")
