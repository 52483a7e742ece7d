"""Issue 4 acceptance: the certified upper bound ``U`` (Steinhardt et al. 2017, docs/upper-bound.md)
stays above the training loss that every attack of the package actually reaches.

On mnist17 and spambase at eps = 0.03 with F = domain ∩ L2 ∩ slab (thresholds: the 0.95
quantile of the clean data, as ``certify upper-bound`` uses), each attack is run against
that same feasible set; the defender removes whatever falls outside ``F`` (the "fixed
defense" that ``U`` assumes), retrains exactly, and its normalised objective
``L(θ;Dc)/N + L(θ;Dp)/N + C_R (1 + |Dp|/N) R(θ)`` must not exceed ``U``.  A violation
would mean either an unsound certificate or an attack escaping the feasible set.
"""
import pytest

from convexpoison import load_dataset
from convexpoison.feasible import make_feasible_set
from convexpoison.poisons import PoisonSet
from convexpoison.certificates.upper_bound import CertifiedUpperBound, poisoned_training_loss

EPS = 0.03
NAMES = ("domain", "l2", "slab")
QUANTILE = 0.95


def _attacks():
    from convexpoison.attacks.influence import InfluenceAttack
    from convexpoison.attacks.kkt import KKTAttack
    from convexpoison.attacks.minmax import MinMaxAttack

    common = dict(feasible=NAMES, quantile=QUANTILE)
    return {
        "kkt": lambda reg: KKTAttack(EPS, reg=reg, grid=3, max_decoys=3, **common),
        "minmax": lambda reg: MinMaxAttack(EPS, reg=reg, **common),
        "influence": lambda reg: InfluenceAttack(EPS, reg=reg, **common),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist17", "spambase"])
def test_every_attack_stays_below_the_certified_upper_bound(name):
    from convexpoison.attacks.labelflip import RandomLabelFlip

    data = load_dataset(name)
    X, y, reg = data.X_train, data.y_train, data.reg
    fs = make_feasible_set(list(NAMES), data.domain, X, y, quantile=QUANTILE)
    ub = CertifiedUpperBound(fs, reg, EPS).fit(X, y)
    U = ub.result_.upper_bound

    def achieved(ps):
        keep = fs.contains(ps.X, ps.y)           # the fixed defense drops the rest
        value, gap, _ = poisoned_training_loss(X, y, ps.X[keep], ps.y[keep],
                                               ps.weight[keep], reg)
        assert ps.weight[keep].sum() <= EPS * data.n_train + 1e-9
        assert gap <= 1e-9                       # exact training: value is the optimum
        return value

    # the certificate's own maximisers (Steinhardt's candidate attack) come closest
    Xp, yp, wp = ub.matching_attack()
    assert achieved(PoisonSet(Xp, yp, wp)) <= U
    flips = RandomLabelFlip(EPS, use="train", random_state=0).fit(data)
    assert achieved(flips.poisons_) <= U
    for attack_name, make in _attacks().items():
        ps = make(reg).fit(data).poisons_
        assert achieved(ps) <= U, attack_name
