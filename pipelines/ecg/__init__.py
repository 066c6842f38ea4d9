"""ECG arrhythmia classification on MIT-BIH: WFDB records -> beat windows + RR features -> bidirectional GRU ->
AAMI classes (N, S, V, F, Q), evaluated inter-patient (de Chazal et al. 2004) and exported for TF Serving.

Notebook:
    cfg = dataclasses.replace(ecg.Config(), source="synthetic", epochs=1)
    data = ecg.load_data(cfg); model = ecg.build_model(cfg, data)
    trained = shared.pipeline.train(ecg, cfg, model, data)  # cross-validation on the training records, then the final model
    metrics = ecg.evaluate(cfg, model, data); summary = ecg.predict(cfg, "data/mitdb/119")
    (or the whole story: shared.pipeline.run(ecg, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import ecg as ecg_data
from domain.ecg.analysis import DETECTORS
from shared import cli, specs, startup

NAME = "ecg"
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")
PREDICT_INPUT = "a record: make predict-ecg RECORD=path/to/record"
TEST_SPLIT = "add the DS2 records to --data-dir (or train and evaluate with --hold-out)"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"            # auto | local | download | synthetic (see domain.ecg.sources)
    data_dir: tuple[str, ...] = ()  # folders of annotated WFDB records, one database each (repeat the option, or
                                    # a,b); default: each of --databases in $RNN_DATA_DIR/<database>, else data/
    databases: tuple[str, ...] = ("mitdb", "svdb")  # the databases that train without --data-dir: mitdb (MIT-BIH:
                                    # DS1 trains, DS2 tests) and svdb (Supraventricular Arrhythmia Database: every
                                    # record trains); mitdb alone is the DS1-only protocol of the literature
    test_dir: tuple[str, ...] = ()  # folders of annotated records the final model scores once, each reported as a
                                    # database of its own (e.g. another database, to test across databases)
    mix_rates: bool = True          # training reads a random half of the records of the faster database through
                                    # the slower one's rate (MIT-BIH at SVDB's 128 Hz), so the rate marks no class
    rnn: str = "gru:32:0.2"         # within-beat RNN over the centre beat (and its difference from the template)
    context: int = 2                # beats on each side the model reads (0: the per-beat model)
    context_rnn: str = "bigru:32"   # across-beat RNN over the 2 * context + 1 beats: their rhythm
    context_shape: bool = False     # the across-beat RNN also reads each beat's coarse shape (else RR features only)
    rr_inputs: str = "sinus"        # RR features read (domain.ecg.beats.RR_INPUTS): sinus (seconds, neighbourhood,
                                    # irregularity, ratios to the sinus reference) | relative | seconds | both | all
    template: str = "sinus"         # the record's template and scale: sinus (its sinus-like beats) | median (all)
    composition: bool = True        # training adds records re-scored as if ectopic beats were 50-90% of them
    irregular: bool = True          # training adds each record's normal beats in an irregular (AF-like) rhythm
    frame: int = 4                  # samples per RNN step: a 252-sample window is read as 63 steps of 4
    before: float = 0.25            # seconds of signal before the R peak
    after: float = 0.45             # seconds after it
    class_weighting: str = "sqrt"   # none | balanced (capped at 50) | sqrt (its square root); Q never up-weighted
    first_lead: bool = False        # use a record's first lead when it has no MLII (else skip the record)
    detector: str = "neurokit"      # predict's R-peak detector: neurokit (NeuroKit2, fast) | xqrs (wfdb)
    at: float = -1.0                # predict: also draw the strip that starts this many seconds into the record
                                    # (-1: only the strips around the first S, V and F beats)
    seconds: float = 10.0           # predict: the length of each strip drawn
    synthetic_minutes: float = 5.0  # length of each generated record (source synthetic)
    batch_size: int = 256
    epochs: int = 6                 # the most epochs; the cross-validation picks how many the final model trains
    learning_rate: float = 2e-3
    augment: bool = False           # training beats: random gain, offset, noise, shift (measured: see README)
    cv_folds: int = 5               # leave-records-out cross-validation on the training records (0: none)
    hold_out: bool = False          # without DS2: test on 5 held-out DS1 records, validate on 3 (compare-ecg)
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/ecg"       # checkpoints, logs, report; exports go to saved_models/ecg/<version>/

    CHOICES: ClassVar[dict] = {  # the command line lists these
        "source": ecg_data.sources.SOURCES, "class_weighting": CLASS_WEIGHTINGS, "detector": DETECTORS,
        "databases": ecg_data.sources.DATABASES,
        "rr_inputs": tuple(ecg_data.beats.RR_INPUTS), "template": ecg_data.beats.TEMPLATES}

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        specs.parse_spec(self.context_rnn)
        cli.check_choices(self)
        if self.before <= 0 or self.after <= 0 or self.before + self.after < 0.5:
            raise ValueError(f"beat window --before {self.before} s + --after {self.after} s: need both > 0 and a "
                             "total of at least 0.5 s (a QRS complex and its T wave), e.g. 0.25 + 0.45.")
        if self.frame < 1 or self.window % self.frame:
            raise ValueError(f"--frame {self.frame}: must divide the window of {self.window} samples "
                             f"(({self.before} + {self.after}) s at {ecg_data.FS} Hz); try 1, 2, 3 or 4.")
        if not 0 <= self.context <= 20:
            raise ValueError(f"--context {self.context}: expected 0 (per-beat model) to 20 beats on each side.")
        cli.expect(self, "cv_folds", self.cv_folds == 0 or self.cv_folds >= 2, "0 (no cross-validation) or at least 2")
        cli.expect(self, "at", self.at == -1.0 or self.at >= 0, "-1 (none) or a time in seconds, at least 0")
        cli.expect(self, "seconds", 2.0 <= self.seconds <= 60.0, "2 to 60 seconds")
        if self.synthetic_minutes < 0.5:
            raise ValueError(f"--synthetic-minutes {self.synthetic_minutes}: need at least 0.5 minutes per record.")
        cli.check_training(self)

    @property
    def window(self) -> int:
        before, after = ecg_data.beats.window_samples(self.before, self.after)
        return before + after

    @property
    def r_index(self) -> int:
        """The R peak's position in a beat window."""
        return ecg_data.beats.window_samples(self.before, self.after)[0]


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Research and teaching: beat-by-beat AAMI classes (N, S, V, F, Q) of a single-lead (MLII-like) ambulatory "
           "ECG at any sampling rate of at least 100 Hz, and how recurrent networks read rhythm and shape.",
    "not for": "Diagnosis, monitoring or any decision about a patient: it is not a medical device, was trained on 22 to "
               "82 patients of the MIT-BIH recordings of the 1970s-80s, and its S-beat figures on new patients are "
               "modest (see the metrics). Not for paced records, other leads, or 12-lead interpretation.",
    "data": "MIT-BIH Arrhythmia Database (Moody & Mark 2001) and, by default beside it, the MIT-BIH Supraventricular "
            "Arrhythmia Database (Greenwald et al. 1990), both from PhysioNet (Goldberger et al. 2000) under the Open "
            "Data Commons Attribution License 1.0; split inter-patient (de Chazal et al. 2004: DS1 and SVDB train, "
            "DS2 tests); or records generated here (offline).",
    "generated": ("synthetic",),
    "real": "For real records use the model trained on MIT-BIH and SVDB that ships with the project: make "
            "predict-ecg RECORD=path/to/record MODEL=saved_models/ecg/0 (or train on them: make train-ecg "
            "DATA_DIR=path/to/mitdb,path/to/svdb).",
}


QUICK = {"source": "synthetic", "synthetic_minutes": 1.0, "rnn": "gru:8", "context_rnn": "gru:8", "context": 2, "epochs": 1,
         "batch_size": 128, "cv_folds": 0}


# the stages (pipelines.ecg.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
