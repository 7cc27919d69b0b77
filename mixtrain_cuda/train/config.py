"""TrainConfig: every knob of a run, saved in each checkpoint (so --resume and
`mixtrain certify` know how the model was made)."""
import dataclasses
import math
from dataclasses import dataclass, field

from .mixing import MIXING_RULES
from .schedules import EPS_SCHEDULES, LR_SCHEDULES

TRAINERS = ("mixtrain", "verified", "pgd", "clean")
BOUND_METHODS = ("symbolic", "ibp", "crown-ibp")


@dataclass
class TrainConfig:
    # what
    dataset: str = "mnist"
    model: str = "mnist_small"
    data_root: str = None
    trainer: str = "mixtrain"  # mixtrain | verified (every point in the bound pass) | pgd (Madry) | clean
    # the threat model
    eps: float = 0.1  # target eps, in pixel space ([0, 1] images)
    # eps the robust loss ramps up to. Default 1.5 x eps: training a little beyond the
    # target certifies more at it (Gowal et al. 2018 train MNIST eps 0.1 at 0.2).
    eps_train: float = None
    norm: float = math.inf
    # MixTrain
    k: int = 20  # points per batch in the bound pass (stochastic robust approximation)
    sample_replacement: bool = False
    bound_method: str = "crown-ibp"  # symbolic (the paper), ibp, crown-ibp
    mixing: str = "dynamic"  # dynamic | fixed | hydra
    alpha: float = 0.5  # initial (dynamic) or constant (fixed) clean share
    # schedules
    epochs: int = 8
    warmup_epochs: float = 0.5  # clean training before the ramp
    ramp_epochs: float = 3.0
    eps_schedule: str = "smooth"
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "step"
    lr_milestones: tuple = ()
    lr_gamma: float = 0.1
    grad_clip: float = 10.0
    # PGD training (trainer=pgd)
    pgd_steps: int = 7
    # dual BatchNorm (Xie & Yuille): none | stats (separate running statistics for
    # the bound pass) | affine (separate weight and bias too)
    dual_bn: str = "none"
    eval_branch: str = "robust"  # with dual BN: the branch that predicts and is certified
    # evaluation
    val_size: int = 5000
    val_eval_size: int = 1000  # validation points evaluated each epoch
    certify_method: str = "ibp,crown-ibp"  # the final certification on the test split
    val_certify_method: str = "ibp,crown-ibp"  # each epoch's validation (keep it cheap)
    pgd_eval_size: int = 200
    pgd_eval_steps: int = 20
    train_size: int = None  # use only this many training points (quick runs; None: all)
    test_size: int = None  # final certification on the test split (None: all of it, 0: skip)
    # run
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "runs/mixtrain"
    threads: int = None
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.lr_milestones, list):
            self.lr_milestones = tuple(self.lr_milestones)
        if self.eps_train is None:
            self.eps_train = 1.5 * self.eps
        checks = [
            (self.trainer in TRAINERS, "trainer must be one of %s, got %r" % (TRAINERS, self.trainer)),
            (self.bound_method in BOUND_METHODS,
             "bound_method must be one of %s, got %r" % (BOUND_METHODS, self.bound_method)),
            (self.mixing in MIXING_RULES, "mixing must be one of %s, got %r" % (MIXING_RULES, self.mixing)),
            (self.eps_schedule in EPS_SCHEDULES, "eps_schedule must be one of %s" % (EPS_SCHEDULES,)),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule must be one of %s" % (LR_SCHEDULES,)),
            (self.optimizer in ("adam", "sgd"), "optimizer must be adam or sgd, got %r" % self.optimizer),
            (self.dual_bn in ("none", "stats", "affine"), "dual_bn must be none, stats or affine"),
            (self.eval_branch in ("clean", "robust"), "eval_branch must be clean or robust"),
            (self.eps >= 0 and self.eps_train >= 0, "eps must be >= 0"),
            (self.norm in (math.inf, 2, 2.0), "norm must be inf or 2"),
            (self.k >= 1, "k must be >= 1, got %s" % self.k),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1"),
            (0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1]"),
            (self.lr > 0, "lr must be > 0"),
            (self.sample_replacement or self.k <= self.batch_size or self.trainer != "mixtrain",
             "k = %d > batch_size = %d needs sample_replacement" % (self.k, self.batch_size)),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        d["norm"] = "inf" if self.norm == math.inf else self.norm
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if d.get("norm") == "inf":
            d["norm"] = math.inf
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
