"""Attacks: PGD (an upper bound on robust accuracy, the counterpart of
certification's lower bound) and MixTrain's interval-gradient attack."""
from .interval import interval_attack, interval_gradient
from .pgd import pgd, pgd_accuracy, still_correct


def interval_accuracy(model, x, y, eps, **kwargs):
    """bool [B]: True where x[i] is classified as y[i] and `interval_attack`
    (which includes PGD) finds no misclassified point in the ball."""
    return still_correct(model, x, interval_attack(model, x, y, eps, **kwargs), y)


__all__ = ["pgd", "pgd_accuracy", "interval_attack", "interval_accuracy", "interval_gradient", "still_correct"]
