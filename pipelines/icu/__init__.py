"""In-hospital mortality from the first 48 hours of an ICU stay (PhysioNet/CinC Challenge 2012): one stay's
irregular measurements -> cleaned (physiological limits, unit fixes) -> hourly grid of values and a mask of what
was measured -> GRU-D style input decay (the last value fading towards the mean, the time since each variable was
seen) -> GRU, beside the chart's summary statistics -> probability of death. Stratified 5-fold cross-validation
on the training stays picks the epoch count and is the estimate on unseen patients, beside SAPS-I, logistic
regression and gradient boosting on the same folds. A research model, not a clinical tool.

Notebook:
    cfg = dataclasses.replace(icu.Config(), source="synthetic", epochs=3, cv_folds=0)
    stays = icu.load_data(cfg); model = icu.build_model(cfg, stays)
    shared.pipeline.train(icu, cfg, model, stays); icu.probabilities(model, stays.test)
    (or the whole story: shared.pipeline.run(icu, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import icu as icu_data
from shared import cli, specs, startup

NAME = "icu"
PLAIN = "plain GRU on forward-filled hours"  # the comparison model's id in the cross-validation (--compare-plain)
PREDICT_INPUT = "one stay in the challenge's format: make predict-icu INPUT=path/to/stay.txt"


TEST_SPLIT = ("give held-out stays in the same format with --test-dir (e.g. the challenge's set B folder with its "
              "Outcomes-b.txt)")


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"        # auto | local (--data-dir in the challenge's layout) | download (PhysioNet set A) |
                                # synthetic (stays generated here in the same format)
    data_dir: str = ""          # the challenge folder (Outcomes-a.txt, set-a/); default $RNN_DATA_DIR/physionet2012
    test_dir: str = ""          # held-out stays in the same format: the test split, touched once by evaluate
    synthetic_stays: int = 1500  # stays generated for --source synthetic
    architecture: str = "grud"  # grud: decay imputation, mask and time since seen + chart statistics | gru: a
                                # plain GRU on forward-filled hourly values (the comparison GRU-D is measured against)
    rnn: str = "gru:32"         # chosen by the cross-validation on set A with dropout 0.5 (docs/icu.md: variants)
    dropout: float = 0.5        # dropout on the features the output layer reads (recurrent state and statistics)
    batch_size: int = 64
    epochs: int = 15            # the most epochs; with cv_folds the cross-validation picks the count (the pooled
                                # held-out AUROC peaked at epoch 12 of 25 on set A, then fell as the model overfit)
    learning_rate: float = 1e-3
    cv_folds: int = 5           # stratified folds over the stays (a stay is one patient's admission); 0: off
    compare_plain: bool = True  # also cross-validate the plain GRU on the same folds
    seed: int = 1337
    jit_compile: bool = False
    run_dir: str = "runs/icu"

    CHOICES: ClassVar[dict] = {"source": icu_data.SOURCES, "architecture": ("grud", "gru")}

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        cli.check_training(self)
        cli.expect(self, "cv_folds", self.cv_folds == 0 or self.cv_folds >= 2, "0 (no cross-validation) or at least 2")
        cli.expect(self, "dropout", 0 <= self.dropout < 1, "a fraction in [0, 1)")
        cli.at_least(self, 50, "synthetic_stays")


CARD = {
    "use": "Research and teaching: how a recurrent model reads irregular, partly missing clinical time series "
           "(the GRU-D idea), measured against severity scores and summary-statistic models on the same folds.",
    "not for": "Any clinical decision. It is a research model, not a clinical tool: trained on one 2001-2008 "
               "database of four ICUs of one hospital (MIMIC-II, via the challenge), never validated prospectively, "
               "uncalibrated for other populations, and blind to everything outside its 41 variables.",
    "data": "PhysioNet/CinC Challenge 2012 set A (4,000 adult ICU stays, Open Data Commons Attribution 1.0), "
            "stays never split between folds; or stays generated here in the same format (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "synthetic_stays": 400, "rnn": "gru:16", "epochs": 4, "cv_folds": 0,
         "compare_plain": False}


# the stages (pipelines.icu.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
