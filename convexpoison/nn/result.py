"""What a neural-network attack's ``fit`` reports as ``result_`` (the attack contract,
:mod:`convexpoison.attacks.base`).

The networks are trained by gradient steps, not solved, so the status says how training
ended: ``"done"`` (every round or iteration ran) or ``"interrupted"`` (Ctrl-C stopped
it and the poisons come from the networks as they stood).  ``facts`` holds the
attack's own numbers (rounds run, final losses, seconds).
"""
from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("done", "interrupted")


@dataclass
class NNAttackResult:
    """``attack`` (its name), ``status`` (one of :data:`STATUSES`) and ``facts``."""

    attack: str
    status: str
    facts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"attack": self.attack, "status": self.status, **self.facts}
