"""MixTrain training: stochastic robust approximation (the bound pass on k random
points of each batch), dynamic mixed training (the clean/robust balance re-set
each epoch), eps and learning-rate schedules, checkpoints that resume exactly,
and the baselines (full-batch IBP / CROWN-IBP training, PGD training)."""
from .checkpoint import load_checkpoint, save_atomic
from .config import BOUND_METHODS, TRAINERS, TrainConfig
from .evaluate import pgd_robust, predict, verify
from .loop import Trainer, build_model, load_data, train
from .mixing import MIXING_RULES, DynamicMixing, FixedMixing, HydraMixing, make_mixing
from .objective import Objective, sample_points
from .schedules import EPS_SCHEDULES, LR_SCHEDULES, eps_at, lr_at

__all__ = ["TrainConfig", "Trainer", "train", "build_model", "load_data", "load_checkpoint", "save_atomic",
           "verify", "predict", "pgd_robust", "DynamicMixing", "FixedMixing", "HydraMixing", "make_mixing",
           "Objective", "sample_points", "eps_at", "lr_at", "TRAINERS", "BOUND_METHODS", "MIXING_RULES",
           "EPS_SCHEDULES", "LR_SCHEDULES"]
