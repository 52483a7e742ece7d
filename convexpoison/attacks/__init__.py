"""Poisoning attacks; import each from its module (heavy dependencies load lazily).

* :mod:`convexpoison.attacks.mtp` -- model-targeted poisoning (Suya et al. Algorithm 1);
* :mod:`convexpoison.attacks.kkt` -- the KKT attack with decoy parameters (Koh et al. §4.2);
* :mod:`convexpoison.attacks.labelflip` -- label-flip baselines (Koh et al. Appendix D).
"""
