"""PyTorch backend: poisoning attacks on neural networks (docs/nn.md).

Every attack here follows the package's attack contract (:mod:`convexpoison.attacks.base`):
``attack.fit(data)`` on a :class:`~convexpoison.datasets.Dataset` sets ``poisons_`` and
``result_``, and ``attack.poison(X, y)`` returns the poison points and labels.

* :class:`TGDAAttack` -- Lu et al. (2022), total gradient descent ascent (Algorithm 1) with
  the three-stage protocol of section 4.2; :func:`total_gradient` is its ascent direction.
* :class:`PGAN` -- Muñoz-González et al. (2019), generator/discriminator/classifier game,
  with :class:`DistanceOutlierDetector` and :func:`evaluate_pgan` (the paper's defense and
  evaluation protocol).
* :class:`LabelFlipAttack` -- the ``reverse`` (``y <- 10 - y``) and ``max-loss`` flips.
* :class:`NNAttackResult` -- their ``result_`` (``status`` "done" or "interrupted").

torch is an optional dependency (``pip install convexpoison[torch]``).  Importing
``convexpoison`` never imports it; importing ``convexpoison.nn`` does.  The device is
``cuda`` when available, else ``cpu`` (:func:`resolve_device`), and is threaded through
every function, so the same code runs on either.
"""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("convexpoison.nn needs PyTorch: pip install 'convexpoison[torch]' "
                      "(torch==2.13.0)") from exc

from .checkpoint import fingerprint, load_checkpoint, save_checkpoint  # noqa: F401,E402
from .device import DEVICES, describe, resolve_device, resolve_dtype, set_threads  # noqa: F401,E402
from .labelflip import FLIP_RULES, LabelFlipAttack, max_loss_labels, reverse_labels  # noqa: F401,E402
from .models import (ATTACKERS, DEFENDERS, CNN, MLP, AttackerConvAE, AttackerMLP,  # noqa: F401,E402
                     DefenderSpec, LogisticRegression, decode_labels, encode_labels, error_rate,
                     fit_classifier, make_attacker, make_defender, pretrain_autoencoder, to_index)
from .result import NNAttackResult  # noqa: F401,E402
from .pgan import PGAN, Discriminator, DistanceOutlierDetector, Generator, evaluate_pgan  # noqa: F401,E402
from .tgda import (FORMULATIONS, LEADERS, TGDAAttack, conjugate_gradient,  # noqa: F401,E402
                   defender_loss, evaluate_poisons, total_gradient, validation_loss)
