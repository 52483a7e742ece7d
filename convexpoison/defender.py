"""The defender's specification: which model, which regularisation, which intercept
(docs/defender.md).

A :class:`Defender` says exactly what objective the victim minimises, so that training,
attacks, defences and certificates all use the model the user actually deploys:

* ``loss``: ``'hinge'`` (binary SVM), ``'logistic'`` or ``'multiclass_hinge'``
  (Crammer--Singer);
* the regularisation, in one of two conventions:

  - ``reg`` = ``C_R`` on the AVERAGE loss (the package's convention)::

        F(theta) = (1/W) sum_i s_i loss_i + C_R R(theta),         W = sum_i s_i

  - ``C`` on the SUM of losses (scikit-learn's)::

        C sum_i s_i loss_i + 1/2 |w|^2   ( + 1/2 b^2 if the intercept is penalised )

    which has the same minimiser as ``F`` with ``C_R = 1/(C W)``.  The effective
    ``C_R`` therefore falls as poison weight is added (:meth:`Defender.reg_for`);

* ``penalize_intercept``: ``True`` puts ``b`` in the regulariser, ``R = 1/2 (|w|^2 + b^2)``
  (liblinear: ``LinearSVC``, and the package's default); ``False`` leaves it free,
  ``R = 1/2 |w|^2`` (libsvm's ``SVC``, ``LogisticRegression`` with lbfgs/newton-cg/sag/saga,
  ``SGDClassifier``).

The default ``Defender()`` with a ``reg`` is today's training, bit for bit.

``trainer="adagrad"`` is Koh et al.'s (2021) multi-class training instead of an exact
minimiser: Crammer--Singer by minibatch AdaGrad with no explicit regulariser (``eta``,
``batch``, ``passes``, ``seed``; :func:`convexpoison.training.train_adagrad_multisvm`).
It is a training-only defender: whatever needs the exact optimum of a regularised
objective (certificates, MTP, KKT, min-poison) refuses it with an :class:`InputError`
naming ``defender`` (:meth:`Defender.require_exact`).

``gap`` (spelling ``multisvm:reg=0.09,gap=1e-3``) trains an exact defender only to that
relative duality gap instead of the package's 1e-10 -- what makes the exact Crammer--Singer
affordable at 60 000 rows.  Every training of the defender stops there (the model's
``gap_`` is the proven gap reached); such a model is no exact optimum either, so the same
code paths refuse it (:meth:`Defender.require_exact`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError

#: loss name -> the model name of :func:`convexpoison.training.train`
LOSSES = {"hinge": "svm", "logistic": "logreg", "multiclass_hinge": "multisvm",
          "squared_hinge": "l2svm"}
_MODEL_LOSS = {v: k for k, v in LOSSES.items()}

#: CLI spellings (``--defender NAME[:key=value,...]``): name -> (loss, convention,
#: intercept penalised?).  ``None`` as the intercept: penalised with ``reg=``, free with
#: ``C=`` (the two conventions' own defaults) unless ``intercept=`` says otherwise.
SPEC_NAMES = {
    "svm": ("hinge", None, None),
    "logreg": ("logistic", None, None),
    "multisvm": ("multiclass_hinge", None, True),
    "svc": ("hinge", "C", False),
    "l2svm": ("squared_hinge", None, True),
    # LinearSVC's loss: squared_hinge (its default) or hinge, by the spelling's loss= key
    "linearsvc": ("squared_hinge", "C", True),
    "logisticregression": ("logistic", "C", False),
    "sgd": (None, "alpha", False),
    # Koh et al.'s multi-class training: AdaGrad, no explicit regulariser
    "multisvm-adagrad": ("multiclass_hinge", "adagrad", False),
}

#: trainers: 'exact' (the minimiser of the regularised objective, duality gap reported) or
#: 'adagrad' (Koh et al.'s minibatch AdaGrad without a regulariser; multi-class hinge only)
TRAINERS = ("exact", "adagrad")


@dataclass(frozen=True)
class Defender:
    """What the defender trains: loss, regularisation and intercept.

    Parameters
    ----------
    loss : 'hinge', 'logistic' or 'multiclass_hinge'.
    reg : ``C_R`` on the average loss (the package's convention), or None.
    C : scikit-learn's ``C`` on the sum of losses, or None.  Give at most one of ``reg``
        and ``C``; with neither, the regularisation is resolved later
        (:meth:`with_default_reg`, e.g. from the dataset's ``data.reg``).
    penalize_intercept : whether ``b`` is in the regulariser (default True).
    source : what the specification was made from (for reports), e.g.
        ``"SVC(C=1.0, kernel='linear')"``.
    trainer : 'exact' (default) or 'adagrad' (Koh et al.'s training of the multi-class
        hinge: no ``reg``/``C``, the intercept unpenalised; module docstring).
    eta, batch, passes, seed : AdaGrad's step, batch size, passes over the (expanded)
        rows and the seed of the row order (``trainer='adagrad'`` only; defaults Koh et
        al.'s 0.02, 20, 3 and seed 0).
    gap : None (default: train to the package's relative duality gap 1e-10, an exact
        optimum) or a relative duality gap in (0, 1) every training of this defender stops
        at (``trainer='exact'`` only).  A defender with a gap is not exact
        (:attr:`exact`): certificates and the attacks built on the optimum refuse it.
    """

    loss: str = "hinge"
    reg: float | None = None
    C: float | None = None
    penalize_intercept: bool = True
    source: str = field(default="", compare=False)
    trainer: str = "exact"
    eta: float = 0.02
    batch: int = 20
    passes: int = 3
    seed: int = 0
    gap: float | None = None

    def __post_init__(self):
        if self.trainer not in TRAINERS:
            raise InputError(f"trainer: unknown trainer {self.trainer!r}; choose one of "
                             f"{', '.join(TRAINERS)}")
        if self.trainer == "adagrad":
            if self.gap is not None:
                raise InputError("gap: the AdaGrad defender minimises nothing, so it has no "
                                 "duality gap to stop at; give gap to an exact defender")
            self._check_adagrad()
            return
        if self.gap is not None:
            object.__setattr__(self, "gap", _gap(self.gap, "gap"))
        if self.loss not in LOSSES:
            raise InputError(f"loss: unknown loss {self.loss!r}; choose one of "
                             f"{', '.join(LOSSES)}")
        if self.reg is not None and self.C is not None:
            raise InputError("reg/C: give either reg (C_R on the average loss) or C (on the sum "
                             "of losses), not both")
        for name in ("reg", "C"):
            v = getattr(self, name)
            if v is not None:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise InputError(f"{name}: expected a number, got {v!r}") from None
                if not (math.isfinite(v) and v > 0):
                    raise InputError(f"{name}: must be a finite positive number, got {v!r}")
                object.__setattr__(self, name, v)
        if self.loss in ("multiclass_hinge", "squared_hinge") and not self.penalize_intercept:
            raise InputError("penalize_intercept: a free intercept is not supported for the "
                             f"{self.loss.replace('_', ' ')} loss")
        object.__setattr__(self, "penalize_intercept", bool(self.penalize_intercept))

    def _check_adagrad(self):
        if self.loss != "multiclass_hinge":
            raise InputError(f"trainer: the AdaGrad defender trains the multi-class hinge "
                             f"(multiclass_hinge) only, not {self.loss}")
        if self.reg is not None or self.C is not None:
            raise InputError("reg/C: the AdaGrad defender has no explicit regularisation "
                             "(Koh et al. 2021, Table 1); give neither")
        try:
            eta = float(self.eta)
        except (TypeError, ValueError):
            raise InputError(f"eta: expected a number, got {self.eta!r}") from None
        if not (math.isfinite(eta) and eta > 0):
            raise InputError(f"eta: must be a finite positive number, got {self.eta!r}")
        object.__setattr__(self, "eta", eta)
        for name, low in (("batch", 1), ("passes", 1), ("seed", 0)):
            v = getattr(self, name)
            try:
                ok = float(v) == int(v) and int(v) >= low
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise InputError(f"{name}: must be an integer >= {low}, got {v!r}")
            object.__setattr__(self, name, int(v))
        object.__setattr__(self, "penalize_intercept", False)

    # ----------------------------------------------------------------- basics
    @property
    def exact(self) -> bool:
        """Whether the defender trains the exact minimiser of its regularised objective
        (False for the AdaGrad trainer and for a defender trained to a ``gap``)."""
        return self.trainer == "exact" and self.gap is None

    def require_exact(self, what):
        """:class:`InputError` naming ``defender`` unless it is an exact minimiser:
        ``what`` (e.g. ``"the lower-bound certificate"``) needs the optimum of a
        regularised objective, which AdaGrad's model is not, nor one trained only to a
        loose duality gap."""
        if not self.exact:
            how = ("is trained by AdaGrad (no optimum)" if self.trainer == "adagrad" else
                   f"is trained only to a relative duality gap of {self.gap:g} (drop gap=)")
            raise InputError(f"defender: {what} needs an exactly trained, regularised "
                             f"defender; {self.spec()} {how}")
        return self

    @property
    def model(self) -> str:
        """The model name of :func:`convexpoison.training.train` ('svm', 'logreg', 'multisvm')."""
        return LOSSES[self.loss]

    @property
    def convention(self) -> str:
        """'average' (``reg`` = C_R), 'sum' (scikit-learn's ``C``), 'unset', or 'none'
        (the AdaGrad trainer: no explicit regulariser)."""
        if self.trainer != "exact":
            return "none"
        return "average" if self.reg is not None else "sum" if self.C is not None else "unset"

    def reg_for(self, total_weight) -> float:
        """The effective ``C_R`` for training data of total weight ``W = sum_i s_i``.

        ``reg`` itself under the average convention; ``1 / (C W)`` under scikit-learn's
        C-on-the-sum, which falls as poison weight is added (``W = n + sum of copies``); 0 for the
        AdaGrad trainer (no explicit regulariser).
        """
        if self.trainer != "exact":
            return 0.0
        if self.reg is not None:
            return self.reg
        if self.C is None:
            raise InputError("reg: the defender has no regularisation; give reg (C_R) or C")
        W = float(total_weight)
        if not (math.isfinite(W) and W > 0):
            raise InputError(f"sample_weight: total weight must be positive, got {W!r}")
        return 1.0 / (self.C * W)

    def objective_scale(self, total_weight) -> float:
        """Factor from the package's objective ``F`` (average convention) to this
        defender's own: ``C W`` under C-on-the-sum (``C sum s_i loss_i + R = C W F``),
        1 under the average convention."""
        return 1.0 if self.C is None else self.C * float(total_weight)

    def with_default_reg(self, reg) -> "Defender":
        """This defender with ``reg`` filled in when it has no regularisation yet."""
        if self.convention != "unset" or reg is None:
            return self
        return replace(self, reg=float(reg))

    def spec(self) -> str:
        """The ``--defender`` spelling of this defender (round-trips :meth:`from_spec`)."""
        if self.trainer != "exact":
            return (f"multisvm-adagrad:eta={self.eta!r},batch={self.batch},"
                    f"passes={self.passes},seed={self.seed}")
        parts = []
        if self.reg is not None:
            parts.append(f"reg={self.reg!r}")
        if self.C is not None:
            parts.append(f"C={self.C!r}")
        parts.append("intercept=" + ("penalized" if self.penalize_intercept else "free"))
        if self.gap is not None:
            parts.append(f"gap={self.gap!r}")
        return f"{self.model}:" + ",".join(parts)

    def __str__(self) -> str:
        return self.spec()

    # --------------------------------------------------------------- training
    def train(self, X, y, sample_weight=None, warm_start=None, **kw):
        """Train exactly (:func:`convexpoison.training.train`) with the effective ``C_R``
        for this data's total weight.  The returned model records ``reg`` (the effective
        ``C_R``), ``bias_regularized`` and ``defender`` (this object).

        The AdaGrad trainer (:func:`~convexpoison.training.train_adagrad_multisvm`) ignores
        ``warm_start`` and the exact trainer's keywords (``tol``, ...): it always starts
        from zero, so the same data and seed give the same model.

        With a ``gap`` every training stops at that relative duality gap: ``tol`` is the
        looser of the caller's (screening trainings may ask for less) and the gap."""
        from .training import train, train_adagrad_multisvm
        from .validation import check_weights

        if self.gap is not None:
            kw["tol"] = max(kw.get("tol", 0.0), self.gap)
        if self.trainer != "exact":
            m = train_adagrad_multisvm(X, y, sample_weight, eta=self.eta, batch=self.batch,
                                       passes=self.passes, seed=self.seed)
            m.defender = self
            return m
        n = np.shape(X)[0] if np.ndim(X) == 2 else None
        W = check_weights(sample_weight, n).sum() if n is not None else 1.0
        reg = self.reg_for(W)
        m = train(X, y, self.model, reg, sample_weight, warm_start=warm_start,
                  penalize_intercept=self.penalize_intercept, **kw)
        m.defender = self
        return m

    def objective(self, model, X, y, sample_weight=None) -> float:
        """This defender's own objective of ``model`` on the data (scikit-learn's value
        ``C sum s_i loss_i + R`` under C-on-the-sum; ``F`` under the average convention),
        with ``R`` as this defender defines it."""
        from .validation import check_weights

        s = check_weights(sample_weight, np.shape(X)[0])     # X may be scipy.sparse
        W = float(s.sum())
        reg = self.reg_for(W)
        w = np.asarray(model.w, float)
        R = 0.5 * float(np.sum(w ** 2))
        if self.penalize_intercept:
            R += 0.5 * float(np.sum(np.asarray(model.b, float) ** 2))
        F = float(s @ model.losses(X, y) / W + reg * R)
        return F * self.objective_scale(W)

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_spec(cls, text) -> "Defender":
        """Parse the command line's spelling ``NAME[:key=value,...]``.

        Names: ``svm``, ``logreg``, ``multisvm`` (the package's models), ``svc``
        (``SVC(kernel='linear')``: hinge, C, free intercept), ``linearsvc``
        (``LinearSVC``: its default squared hinge, or ``loss=hinge``; C, penalised
        intercept), ``l2svm`` (the squared hinge with ``reg``), ``logisticregression``
        (l2, lbfgs: logistic, C, free intercept), ``sgd`` (``SGDClassifier``: ``loss=hinge|
        log_loss``, ``alpha=``; free intercept).  Keys: ``reg=`` (C_R on the average loss),
        ``C=`` (on the sum; ``svc``, ``linearsvc`` and ``logisticregression`` default to
        scikit-learn's ``C=1``), ``intercept=free|penalized`` (default: penalised with
        ``reg``, free with ``C`` -- each convention's own; ``linearsvc`` is always
        penalised).  Examples: ``svm:reg=0.09`` (today's default), ``svc:C=1``,
        ``logreg:C=1`` (= LogisticRegression(C=1)), ``linearsvc:C=0.5`` (= LinearSVC(C=0.5)),
        ``linearsvc:C=0.5,loss=hinge``.
        """
        if isinstance(text, Defender):
            return text
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"defender: expected NAME[:key=value,...], got {text!r}")
        name, _, rest = text.strip().partition(":")
        name = name.strip().lower()
        if name not in SPEC_NAMES:
            raise InputError(f"defender: unknown name {name!r} in {text!r}; use one of "
                             f"{', '.join(SPEC_NAMES)}")
        opts = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise InputError(f"defender: {item!r} in {text!r} is not key=value")
            opts[key.strip()] = value.strip()
        loss, conv, pen = SPEC_NAMES[name]
        if conv == "adagrad":
            keys = {"eta": float, "batch": int, "passes": int, "seed": int}
            bad = set(opts) - set(keys)
            if bad:
                raise InputError(f"defender: unknown key(s) {', '.join(sorted(bad))} in "
                                 f"{text!r}; {name} takes {', '.join(sorted(keys))}")
            vals = {}
            for key, typ in keys.items():
                if key in opts:
                    try:
                        vals[key] = typ(opts[key])
                    except ValueError:
                        raise InputError(f"defender: {key}={opts[key]!r} in {text!r} is not "
                                         f"a{'n integer' if typ is int else ' number'}") from None
            return cls(loss, trainer="adagrad", source=text, **vals)
        allowed = {"reg", "C", "intercept"} if conv != "alpha" else {"alpha", "loss"}
        if name == "linearsvc":
            allowed = {"C", "intercept", "loss"}
            loss = opts.get("loss", "squared_hinge")
            if loss not in ("squared_hinge", "hinge"):
                raise InputError(f"defender: linearsvc loss must be squared_hinge (LinearSVC's "
                                 f"default) or hinge, got {loss!r}")
        allowed |= {"gap"}
        gap = _gap(opts["gap"], "defender: gap", text) if "gap" in opts else None
        bad = set(opts) - allowed
        if bad:
            raise InputError(f"defender: unknown key(s) {', '.join(sorted(bad))} in {text!r}; "
                             f"{name} takes {', '.join(sorted(allowed))}")
        if conv == "alpha":
            sgd_loss = opts.get("loss", "hinge")
            if sgd_loss not in ("hinge", "log_loss"):
                raise InputError(f"defender: sgd loss must be hinge or log_loss, got {sgd_loss!r}")
            return cls("hinge" if sgd_loss == "hinge" else "logistic",
                       reg=_num(opts.get("alpha", "0.0001"), "alpha", text),
                       penalize_intercept=False, source=text, gap=gap)
        reg = _num(opts["reg"], "reg", text) if "reg" in opts else None
        C = _num(opts["C"], "C", text) if "C" in opts else None
        if conv == "C" and reg is None and C is None:
            C = 1.0
        if conv == "C" and reg is not None:
            raise InputError(f"defender: {name} is regularised by C (scikit-learn's), not reg")
        if "intercept" in opts:
            if opts["intercept"] not in ("free", "penalized", "penalised"):
                raise InputError(f"defender: intercept must be free or penalized, got "
                                 f"{opts['intercept']!r}")
            want = opts["intercept"] != "free"
            if pen is not None and want != pen:
                raise InputError(f"defender: {name} has a "
                                 f"{'penalized' if pen else 'free'} intercept")
            pen = want
        if pen is None:
            pen = C is None
        return cls(loss, reg=reg, C=C, penalize_intercept=pen, source=text, gap=gap)

    @classmethod
    def from_model(cls, model: str, reg=None) -> "Defender":
        """Today's defender for a model name ('svm', 'logreg', 'multisvm'): ``C_R`` on the
        average loss and a penalised intercept."""
        if model not in _MODEL_LOSS:
            raise InputError(f"model: unknown model {model!r}; choose one of "
                             f"{', '.join(_MODEL_LOSS)}")
        return cls(_MODEL_LOSS[model], reg=reg, penalize_intercept=True)

    @classmethod
    def from_estimator(cls, est) -> "Defender":
        """The defender a scikit-learn estimator trains, or :class:`InputError` naming
        what cannot be mapped.

        * ``SVC(kernel='linear', C)``: hinge, C on the sum, free intercept (libsvm).
        * ``LinearSVC(loss='squared_hinge' (its default) | 'hinge', C)``: that loss, C on
          the sum, intercept penalised (liblinear appends a feature of value
          ``intercept_scaling`` and penalises its weight: only ``intercept_scaling=1`` is
          the package's ``b^2``); ``multi_class='crammer_singer'`` maps to the multi-class
          hinge (liblinear ignores ``loss`` there).
        * ``LogisticRegression(penalty='l2', C)``: logistic, C on the sum, free intercept
          (lbfgs, newton-cg, newton-cholesky, sag, saga); ``solver='liblinear'``
          penalises it (``intercept_scaling=1`` only).
        * ``SGDClassifier(loss='hinge'|'log_loss', penalty='l2', alpha)``: its objective
          is ``alpha/2 |w|^2 + mean loss`` with a free intercept, i.e. ``reg = alpha``.
          (SGD itself only approximates that optimum; the defender is its exact minimiser.)
        """
        name = type(est).__name__
        p = est.get_params(deep=False) if hasattr(est, "get_params") else None
        if p is None:
            raise InputError(f"defender: {name} is not a scikit-learn estimator")

        def no(what):
            raise InputError(f"defender: {name} with {what} cannot be mapped to a convexpoison "
                             "defender (supported: linear kernel, l2 penalty, hinge/squared-hinge/logistic loss, "
                             "fit_intercept=True, no class_weight)")

        if p.get("class_weight") is not None:
            no(f"class_weight={p['class_weight']!r}")
        if p.get("fit_intercept", True) is not True:
            no("fit_intercept=False")
        src = f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(p.items()) if k in _SHOWN)})"
        if name == "SVC":
            if p.get("kernel") != "linear":
                no(f"kernel={p.get('kernel')!r}")
            return cls("hinge", C=p["C"], penalize_intercept=False, source=src)
        if name == "LinearSVC":
            if p.get("penalty", "l2") != "l2":
                no(f"penalty={p['penalty']!r}")
            if float(p.get("intercept_scaling", 1)) != 1.0:
                no(f"intercept_scaling={p['intercept_scaling']!r} (liblinear then penalises "
                   "(b/intercept_scaling)^2)")
            if p.get("multi_class", "ovr") == "crammer_singer":
                return cls("multiclass_hinge", C=p["C"], penalize_intercept=True, source=src)
            if p.get("loss") not in ("hinge", "squared_hinge"):
                no(f"loss={p.get('loss')!r}")
            return cls(p["loss"], C=p["C"], penalize_intercept=True, source=src)
        if name == "LogisticRegression":
            penalty = p.get("penalty", "l2")
            l1_ratio = p.get("l1_ratio")
            if penalty not in ("l2", "deprecated") or (l1_ratio not in (None, 0, 0.0)):
                no(f"penalty={penalty!r}, l1_ratio={l1_ratio!r}")
            if p.get("C") is None or not np.isfinite(p["C"]):
                no(f"C={p.get('C')!r} (no penalty)")
            liblinear = p.get("solver") == "liblinear"
            if liblinear and float(p.get("intercept_scaling", 1)) != 1.0:
                no(f"solver='liblinear' and intercept_scaling={p['intercept_scaling']!r}")
            return cls("logistic", C=p["C"], penalize_intercept=liblinear, source=src)
        if name == "SGDClassifier":
            loss = p.get("loss")
            if loss not in ("hinge", "log_loss"):
                no(f"loss={loss!r}")
            if p.get("penalty") != "l2":
                no(f"penalty={p.get('penalty')!r}")
            return cls("hinge" if loss == "hinge" else "logistic", reg=p["alpha"],
                       penalize_intercept=False, source=src)
        no("this estimator type (map SVC, LinearSVC, LogisticRegression or SGDClassifier)")


_SHOWN = {"C", "kernel", "loss", "alpha", "penalty", "solver", "multi_class", "intercept_scaling"}


def _num(value, key, text):
    try:
        v = float(value)
    except ValueError:
        raise InputError(f"defender: {key}={value!r} in {text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"defender: {key} must be a finite positive number, got {value!r}")
    return v


def _gap(value, name, text=None):
    """A relative duality gap in (0, 1) (a float or its spelling), or :class:`InputError`
    naming ``name``."""
    where = f" in {text!r}" if text is not None else ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}={value!r}{where} is not a number") from None
    if not (0.0 < v < 1.0):
        raise InputError(f"{name}: must be a relative duality gap in (0, 1), got {value!r}{where}")
    return v


def as_defender(defender, model="svm", reg=None) -> Defender:
    """A :class:`Defender` from a Defender, a spec string, a scikit-learn estimator, or
    None (today's default: ``model`` with ``C_R = reg``, intercept penalised)."""
    if defender is None:
        return Defender.from_model(model, reg)
    if isinstance(defender, Defender):
        return defender.with_default_reg(reg)
    if isinstance(defender, str):
        return Defender.from_spec(defender).with_default_reg(reg)
    return Defender.from_estimator(defender)


def resolve_defender(defender, data=None, model="svm", reg=None) -> Defender:
    """The defender an attack, defence or certificate is about -- the one place that
    resolves it.

    ``defender``: a :class:`Defender`, a ``--defender`` spelling (``"svc:C=1"``), a
    scikit-learn estimator, or None (the package's default ``model`` with ``C_R = reg``,
    intercept penalised: today's training, bit for bit).  ``reg`` (or, when None, the
    dataset's ``data.reg``) fills in a defender given without regularisation; giving
    ``reg`` together with a defender that has its own is an :class:`InputError`.
    """
    from .datasets import resolve_reg

    if defender is None:
        return Defender.from_model(model, resolve_reg(reg, data))
    d = as_defender(defender)
    if d.convention == "none":
        if reg is not None:
            # named after the defender: a certificate's or attack's C_R cannot apply to it
            raise InputError(f"defender: {d.spec()} is trained by AdaGrad with no explicit "
                             f"regularisation; reg={reg!r} does not apply to it")
        return d
    if d.convention != "unset":
        if reg is not None:
            raise InputError(f"reg: the defender {d.spec()} has its own regularisation; "
                             "give reg or the defender's, not both")
        return d
    return d.with_default_reg(resolve_reg(reg, data))


def fit_estimator(est, X, y, sample_weight=None, expand=True):
    """Refit a clone of the scikit-learn estimator ``est`` on ``(X, y)`` and return its
    model as a :class:`~convexpoison.training.LinearModel` (binary labels {-1, +1}).

    ``sample_weight`` are copies: with ``expand`` (default) each row is repeated that many
    times (integer weights) -- what "refit on train union poison" means -- otherwise the
    weights are passed to ``fit``.  The independent check of :meth:`Defender.train`.
    """
    from sklearn.base import clone

    from .training import LinearModel

    X = np.asarray(X, float)
    y = np.asarray(y)
    if sample_weight is not None and expand:
        k = np.asarray(sample_weight)
        if np.any(k != np.round(k)):
            raise InputError("sample_weight: expanding copies needs integer weights")
        X, y = np.repeat(X, k.astype(int), axis=0), np.repeat(y, k.astype(int))
        sample_weight = None
    m = clone(est)
    m.fit(X, y) if sample_weight is None else m.fit(X, y, sample_weight=sample_weight)
    classes = list(m.classes_)
    if len(classes) == 2:
        if classes != [-1, 1]:
            raise InputError(f"y: expected labels {{-1, +1}}, the estimator saw {classes}")
        return LinearModel(np.asarray(m.coef_, float).ravel().copy(), float(m.intercept_[0]),
                           "logreg" if type(m).__name__ in ("LogisticRegression",)
                           or getattr(m, "loss", "") == "log_loss" else
                           "l2svm" if getattr(m, "loss", "") == "squared_hinge" else "svm",
                           method_=type(m).__name__)
    return LinearModel(np.asarray(m.coef_, float).copy(), np.asarray(m.intercept_, float).copy(),
                       "multisvm", method_=type(m).__name__)
