# Over 400 lines: the challenge's file format, cleaning and the generator of stays in that format read best together.
"""ICU stays of the PhysioNet/CinC Challenge 2012 ("Predicting in-hospital mortality of ICU patients"): the
challenge's own file format, its outcomes, physiological cleaning, a generator of stays in the same format, and
the baselines' features.

Format (one file per stay, `<RecordID>.txt`): CSV `Time,Parameter,Value`, Time `hh:mm` since ICU admission
(0 to 48 h); descriptors at 00:00 (RecordID, Age, Gender, Height, ICUType, Weight; -1 = unknown), then
measurements of up to 37 variables, each measured many times, once, or never. Outcomes: `Outcomes-<set>.txt`,
CSV `RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death`.

Notebook:
    stays = icu.read_folder("../shared/data/physionet2012")      # set A: 3,996 stays, labels, SAPS-I
    stay = icu.read_stay("../shared/data/physionet2012/set-a/132539.txt")
    index, values, removed = icu.clean(stay.index, stay.values)  # physiological limits, unit fixes
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import pathlib
import tarfile

import numpy as np

log = logging.getLogger(__name__)

HOURS = 48
HEADER = "Time,Parameter,Value"
# the 37 time series of the challenge, then the descriptors (RecordID is the stay's name, not an input)
SERIES = ("Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine", "DiasABP", "FiO2", "GCS",
          "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP", "MechVent", "Na", "NIDiasABP", "NIMAP",
          "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate", "SaO2", "SysABP", "Temp", "TroponinI",
          "TroponinT", "Urine", "WBC", "Weight")
DESCRIPTORS = ("Age", "Gender", "Height", "ICUType")
VARIABLES = SERIES + DESCRIPTORS
# Physiological limits, in the challenge's units, after the unit fixes below; a value outside is a data-entry
# error and is removed (counted in the report). Wide on purpose: they remove the impossible, not the alarming.
LIMITS = {
    "Albumin": (0.5, 7.0, "g/dL"), "ALP": (1, 5000, "IU/L"), "ALT": (1, 15000, "IU/L"), "AST": (1, 25000, "IU/L"),
    "Bilirubin": (0.05, 60, "mg/dL"), "BUN": (1, 250, "mg/dL"), "Cholesterol": (20, 700, "mg/dL"),
    "Creatinine": (0.1, 25, "mg/dL"), "DiasABP": (5, 200, "mmHg"), "FiO2": (0.21, 1.0, "fraction"),
    "GCS": (3, 15, "points"), "Glucose": (10, 1500, "mg/dL"), "HCO3": (2, 60, "mmol/L"), "HCT": (5, 75, "%"),
    "HR": (10, 300, "bpm"), "K": (1.0, 12.0, "mEq/L"), "Lactate": (0.1, 30, "mmol/L"), "Mg": (0.3, 10, "mmol/L"),
    "MAP": (15, 250, "mmHg"), "MechVent": (0, 1, "flag"), "Na": (90, 200, "mEq/L"), "NIDiasABP": (5, 200, "mmHg"),
    "NIMAP": (15, 250, "mmHg"), "NISysABP": (20, 300, "mmHg"), "PaCO2": (5, 150, "mmHg"), "PaO2": (15, 700, "mmHg"),
    "pH": (6.5, 8.0, "pH"), "Platelets": (1, 2000, "1000/uL"), "RespRate": (1, 90, "/min"), "SaO2": (20, 100, "%"),
    "SysABP": (20, 300, "mmHg"), "Temp": (25, 45, "degC"), "TroponinI": (0.01, 200, "ng/mL"),
    "TroponinT": (0.01, 50, "ng/mL"), "Urine": (0, 10000, "mL"), "WBC": (0.1, 250, "1000/uL"),
    "Weight": (20, 300, "kg"), "Age": (15, 110, "years"), "Gender": (0, 1, "0 female, 1 male"),
    "Height": (100, 230, "cm"), "ICUType": (1, 4, "1 coronary, 2 cardiac surgery, 3 medical, 4 surgical"),
}
LOW = np.array([LIMITS[v][0] for v in VARIABLES], "float32")
HIGH = np.array([LIMITS[v][1] for v in VARIABLES], "float32")
# Unit fixes known in the challenge data: FiO2 recorded in percent (21-100) instead of a fraction; temperature in
# degrees Fahrenheit (77-113 F = 25-45 C); pH recorded x10 or x100 (65-80, 650-800).
UNIT_FIXES = "FiO2 21-100 -> /100; Temp 77-113 -> (F - 32) / 1.8; pH 65-80 -> /10, 650-800 -> /100"
# Laboratory values spread over orders of magnitude (right-skewed): the model reads them as log(1 + value), so a
# standard deviation means the same at both ends (monotone: the baselines' trees and ranks do not care)
SKEWED = ("ALP", "ALT", "AST", "Bilirubin", "BUN", "Creatinine", "Glucose", "Lactate", "Platelets", "TroponinI",
          "TroponinT", "Urine", "WBC")
MISSING_FILES_A = (139060, 140501, 140936, 141264)  # in Outcomes-a.txt, no file in the copy the handout holds

SOURCES = ("auto", "local", "download", "synthetic")
DOWNLOAD = "https://physionet.org/files/challenge-2012/1.0.0/"
# set A as the handout copies it (3,996 stays): SHA-256 of the lines "<name> <sha256 of file>\n" of every
# set-a/*.txt except MISSING_FILES_A, in name order (set_digest); and of Outcomes-a.txt
SET_A_DIGEST = "b9cda2aaebf23f12a47251db2473a76223706eaf557b42c986b4d4408f9114d1"
OUTCOMES_A_SHA256 = "2613ea60ccda29f87571a7d6b09ad130858a8ccd66325bd073365925026883c2"


@dataclasses.dataclass
class Stay:
    """One ICU stay's observations in file order: minutes since admission, the VARIABLES index, the value."""
    record_id: int
    minutes: np.ndarray   # float32
    index: np.ndarray     # int32 into VARIABLES
    values: np.ndarray    # float32, as recorded (unknown descriptors, -1, already left out)
    skipped: int = 0      # lines with an empty variable name (set C holds 2,403 of them), left out

    @property
    def descriptors_only(self) -> bool:
        """No time-series measurement: what it has is Age, Gender, Height, ICUType, Weight at most."""
        return not any(VARIABLES[i] in SERIES for i in self.index)


@dataclasses.dataclass
class Stays:
    """Stays with their outcome (in-hospital death 0/1) and SAPS-I (NaN unknown), and what reading them noted."""
    stays: list[Stay]
    died: np.ndarray
    saps: np.ndarray
    source: str
    notes: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.stays)

    def subset(self, positions) -> Stays:
        positions = np.asarray(positions)
        return Stays([self.stays[i] for i in positions], self.died[positions], self.saps[positions], self.source,
                     self.notes)


def _minutes(text: str, where: str) -> float:
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or int(minutes) > 59:
        raise ValueError(f"{where}: time {text!r} is not hh:mm since ICU admission.")
    return 60.0 * int(hours) + int(minutes)


def parse_stay(text: str, name: str = "stay") -> Stay:
    """One stay from the challenge's CSV text, read as PhysioNet publishes it. Left out and counted (`skipped`): lines
    with an empty variable name (`10:45,,1.9`, a quirk of the published set C). Descriptors (and Weight) of -1,
    unknown, are left out. A stay with descriptors only is read (it is predicted from them; `descriptors_only`).
    Refused with the line named, as corrupt: a wrong header, an unknown variable name, a value that is not a finite
    number, a time beyond 48:00 or earlier than the line before, a stay with neither a measurement nor a
    descriptor."""
    lines = text.splitlines()
    if not lines or lines[0].strip().lstrip("\ufeff") != HEADER:
        first = lines[0][:60] if lines else "(empty file)"
        raise ValueError(f"{name}: the first line is {first!r}; a PhysioNet 2012 stay starts with {HEADER!r}.")
    record_id, minutes, index, values, previous, skipped = None, [], [], [], 0.0, 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        parts = line.split(",")
        if len(parts) != 3:
            raise ValueError(f"{where}: {line!r} is not Time,Parameter,Value.")
        time_text, parameter, value_text = (p.strip() for p in parts)
        t = _minutes(time_text, where)
        if t > 60 * HOURS:
            raise ValueError(f"{where}: time {time_text} is beyond the first {HOURS} hours of the stay.")
        if t < previous:
            raise ValueError(f"{where}: time {time_text} is earlier than the line before; the file must be in time "
                             "order.")
        previous = t
        try:
            if "_" in value_text:  # Python reads 1_000 as a number; a CSV number has no digit separators
                raise ValueError
            value = float(value_text)
        except ValueError:
            raise ValueError(f"{where}: {parameter} value {value_text!r} is not a number.") from None
        if not np.isfinite(value) or abs(value) > FLOAT32_MAX:  # 1e39 is finite as a double, infinite as float32
            raise ValueError(f"{where}: {parameter} value {value_text!r} is not a finite number (at most "
                             f"{FLOAT32_MAX:.3g} in magnitude).")
        if parameter == "RecordID":
            if record_id is not None and int(value) != record_id:
                raise ValueError(f"{where}: a second RecordID ({int(value)}, after {record_id}); one file holds one "
                                 "stay.")
            record_id = int(value)
            continue
        if not parameter:
            skipped += 1
            continue
        if parameter not in VARIABLES:
            raise ValueError(f"{where}: unknown variable {parameter!r}; the challenge's are {', '.join(VARIABLES)}.")
        if parameter in (*DESCRIPTORS, "Weight") and value == -1:
            continue
        minutes.append(t)
        index.append(VARIABLES.index(parameter))
        values.append(value)
    if not index:
        raise ValueError(f"{name}: neither a measurement nor a descriptor in the stay; nothing to predict from.")
    if record_id is None:
        stem = pathlib.Path(name).stem
        record_id = int(stem) if stem.isdigit() else -1
    return Stay(record_id, np.array(minutes, "float32"), np.array(index, "int32"), np.array(values, "float32"),
                skipped)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_stay(path: str | pathlib.Path) -> Stay:
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read it as a UTF-8 text file ({error}).") from None
    return parse_stay(text, str(path))


def clean(index: np.ndarray, values: np.ndarray, xp=np):
    """(index, values, keep): the values with the unit fixes applied (UNIT_FIXES) and `keep`, True where the fixed
    value lies within LIMITS. `xp` is numpy, or tf.experimental.numpy inside a served graph, so training and
    serving clean alike."""
    name = {v: VARIABLES.index(v) for v in ("FiO2", "Temp", "pH")}
    fio2 = xp.logical_and(index == name["FiO2"], xp.logical_and(values > 1.0, values <= 100.0))
    values = xp.where(fio2, values / 100.0, values)
    fahrenheit = xp.logical_and(index == name["Temp"], xp.logical_and(values >= 77.0, values <= 113.0))
    values = xp.where(fahrenheit, (values - 32.0) / 1.8, values)
    ph = index == name["pH"]
    values = xp.where(xp.logical_and(ph, xp.logical_and(values >= 65.0, values <= 80.0)), values / 10.0, values)
    values = xp.where(xp.logical_and(ph, xp.logical_and(values >= 650.0, values <= 800.0)), values / 100.0, values)
    keep = xp.logical_and(values >= xp.take(LOW, index), values <= xp.take(HIGH, index))
    return index, values, keep


def cleaning_report(stays: list[Stay]) -> dict:
    """{variable: {"kept", "removed", "fixed units"}} over `stays` (the report's cleaning table)."""
    out = {v: {"kept": 0, "removed": 0, "fixed units": 0} for v in VARIABLES}
    for stay in stays:
        _, fixed, keep = clean(stay.index, stay.values)
        for i, k, changed in zip(stay.index, keep, fixed != stay.values, strict=True):
            row = out[VARIABLES[i]]
            row["kept" if k else "removed"] += 1
            row["fixed units"] += int(changed)
    return {v: row for v, row in out.items() if row["kept"] or row["removed"]}


def reading_notes(stays: list[Stay]) -> list[str]:
    """What reading left out or took as it is, with counts: lines with an empty variable name, descriptors-only
    stays (kept and predicted from their descriptors, so a set is scored on all its stays as the challenge was)."""
    notes = []
    with_empty = [s for s in stays if s.skipped]
    if with_empty:
        notes.append(f"{sum(s.skipped for s in with_empty)} lines with an empty variable name in {len(with_empty)} "
                     "stays were skipped (a quirk of the published files: `hh:mm,,value`)")
    bare = [s.record_id for s in stays if s.descriptors_only]
    if bare:
        notes.append(f"{len(bare)} stays hold descriptors only (no measurement in 48 h) and are predicted from their "
                     f"descriptors: {', '.join(map(str, bare[:10]))}{' ...' if len(bare) > 10 else ''}")
    return notes


def read_outcomes(path: str | pathlib.Path) -> dict[int, tuple[int, float]]:
    """{RecordID: (in-hospital death 0/1, SAPS-I or NaN)} from an Outcomes-<set>.txt file."""
    path = pathlib.Path(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    needed = {"RecordID", "SAPS-I", "In-hospital_death"}
    if not rows or not needed <= set(rows[0]):
        raise ValueError(f"{path}: expected the challenge's outcome columns {sorted(needed)}.")
    out = {}
    for row in rows:
        died = int(row["In-hospital_death"])
        if died not in (0, 1):
            raise ValueError(f"{path}: RecordID {row['RecordID']} has In-hospital_death {died}; expected 0 or 1.")
        saps = float(row["SAPS-I"])
        out[int(row["RecordID"])] = (died, saps if saps >= 0 else float("nan"))
    return out


def read_folder(folder: str | pathlib.Path, source: str = "local") -> Stays:
    """Every stay of a folder in the challenge's layout (`set-*/` with `<RecordID>.txt` files, or the files
    themselves) with its outcome from `Outcomes-*.txt`. Stays listed without a file, and files without an outcome,
    are reported and skipped."""
    folder = pathlib.Path(folder)
    outcome_files = sorted(folder.glob("Outcomes-*.txt"))
    if not outcome_files:
        raise FileNotFoundError(f"{folder}: no Outcomes-<set>.txt; give the folder of a PhysioNet 2012 set (files "
                                "set-a/<RecordID>.txt and Outcomes-a.txt), or --source synthetic.")
    outcomes = {}
    for path in outcome_files:
        outcomes.update(read_outcomes(path))
    files = {int(p.stem): p for p in sorted(folder.glob("set-*/*.txt")) + sorted(folder.glob("*.txt"))
             if p.stem.isdigit()}
    notes = []
    absent = sorted(set(outcomes) - set(files))
    if absent:
        notes.append(f"{len(absent)} stays in the outcome file have no file and are skipped: "
                     f"{', '.join(map(str, absent[:10]))}{' ...' if len(absent) > 10 else ''}")
    unlabelled = sorted(set(files) - set(outcomes))
    if unlabelled:
        notes.append(f"{len(unlabelled)} stay files have no outcome and are skipped: "
                     f"{', '.join(map(str, unlabelled[:10]))}")
    ids = sorted(set(files) & set(outcomes))
    if not ids:
        raise ValueError(f"{folder}: no stay file matches a RecordID of {', '.join(p.name for p in outcome_files)}.")
    stays = [read_stay(files[i]) for i in ids]
    notes += reading_notes(stays)
    return Stays(stays, np.array([outcomes[i][0] for i in ids], "int32"),
                 np.array([outcomes[i][1] for i in ids], "float32"), source, notes)


def set_digest(folder: str | pathlib.Path, skip: tuple[int, ...] = MISSING_FILES_A) -> str:
    """SHA-256 over "<name> <sha256>\\n" of every <RecordID>.txt in `folder` (name order), `skip` left out."""
    from domain.sources import sha256

    lines = [f"{p.name} {sha256(p)}\n" for p in sorted(pathlib.Path(folder).glob("*.txt"))
             if not (p.stem.isdigit() and int(p.stem) in skip)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def download(folder: str | pathlib.Path, origin: str = DOWNLOAD) -> pathlib.Path:
    """Set A from PhysioNet (set-a.tar.gz and Outcomes-a.txt by keras.utils.get_file) into `folder`, checked:
    Outcomes-a.txt by its SHA-256, the stays by set_digest against the copy this project was measured on
    (PhysioNet's four extra stays, MISSING_FILES_A, are outside the digest). A mismatch removes the files."""
    import keras

    folder = pathlib.Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.get_file("Outcomes-a.txt", origin + "Outcomes-a.txt", cache_dir=str(folder), cache_subdir=".",
                         file_hash=OUTCOMES_A_SHA256, hash_algorithm="sha256")
    archive = keras.utils.get_file("set-a.tar.gz", origin + "set-a.tar.gz", cache_dir=str(folder), cache_subdir=".")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    if set_digest(folder / "set-a") != SET_A_DIGEST:
        import shutil

        shutil.rmtree(folder / "set-a", ignore_errors=True)
        pathlib.Path(archive).unlink(missing_ok=True)
        raise ValueError(f"{origin}set-a.tar.gz: its stays differ from the set A this project was measured on "
                         "(checksum mismatch); the download was removed.")
    return folder


# ------------------------------------------------------------------------------------------------ generator

def generate(folder: str | pathlib.Path, count: int = 1000, seed: int = 0) -> pathlib.Path:
    """`count` stays written in the challenge's format (set-s/<RecordID>.txt and Outcomes-s.txt) so the same
    reader runs offline. A latent severity drifts over the 48 hours; vital signs are charted about hourly with
    gaps, laboratory values a few times a day and lactate mostly when the patient is sick (informative
    missingness); death depends on the severity's trajectory (its end and its slope), not on one last value;
    a few values are recorded in the wrong unit or impossible, as in the real data. SAPS-I is a noisy reading of
    the first day's severity."""
    rng = np.random.default_rng(seed)
    folder = pathlib.Path(folder)
    (folder / "set-s").mkdir(parents=True, exist_ok=True)
    outcomes = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
    for k in range(count):
        record = 300000 + k
        start, slope = rng.normal(0, 1), rng.normal(0, 0.6)
        severity = lambda t, start=start, slope=slope: start + slope * t / HOURS  # noqa: E731
        end = severity(HOURS)
        died = int(rng.random() < 1 / (1 + np.exp(-(1.4 * end + 0.8 * slope - 2.3))))
        age = int(np.clip(rng.normal(64 + 6 * start, 15), 16, 95))
        rows = [("00:00", "RecordID", record), ("00:00", "Age", age), ("00:00", "Gender", int(rng.random() < 0.55)),
                ("00:00", "Height", -1 if rng.random() < 0.5 else round(rng.normal(170, 10), 1)),
                ("00:00", "ICUType", int(rng.integers(1, 5))), ("00:00", "Weight", round(rng.normal(82, 18), 1))]
        obs = []
        for t in np.sort(rng.uniform(5, 60 * HOURS, int(rng.integers(20, 60)))):
            s = severity(t / 60)
            obs += [(t, "HR", round(rng.normal(85 + 12 * s, 8))), (t, "MAP", round(rng.normal(80 - 9 * s, 7), 1)),
                    (t, "Temp", round(rng.normal(37 + 0.4 * s, 0.4), 1))]
            if rng.random() < 0.5:
                obs.append((t, "RespRate", round(rng.normal(18 + 3 * s, 3))))
            if rng.random() < 0.4:
                obs.append((t, "Urine", round(max(0.0, rng.normal(120 - 40 * s, 40)))))
        for t in np.sort(rng.uniform(30, 60 * HOURS, int(rng.integers(1, 5)))):
            s = severity(t / 60)
            obs += [(t, "Creatinine", round(float(np.exp(rng.normal(0.1 + 0.3 * s, 0.3))), 2)),
                    (t, "WBC", round(float(np.exp(rng.normal(2.4 + 0.2 * s, 0.3))), 1)),
                    (t, "GCS", int(np.clip(round(rng.normal(13 - 2.5 * s, 1.5)), 3, 15)))]
            if rng.random() < 1 / (1 + np.exp(-1.5 * s)):  # lactate is ordered when the patient looks sick
                obs.append((t, "Lactate", round(float(np.exp(rng.normal(0.4 + 0.4 * s, 0.3))), 1)))
        if rng.random() < 0.05:  # wrong units and impossible values, as in the real data
            obs.append((float(rng.uniform(0, 60 * HOURS)), "Temp", round(rng.normal(98.6, 1), 1)))
        if rng.random() < 0.05:
            obs.append((float(rng.uniform(0, 60 * HOURS)), "HR", 0))
        obs.sort(key=lambda o: o[0])
        rows += [(f"{int(t) // 60:02d}:{int(t) % 60:02d}", p, v) for t, p, v in obs]
        (folder / "set-s" / f"{record}.txt").write_text(HEADER + "\n" + "".join(f"{t},{p},{v}\n" for t, p, v in rows))
        saps = int(np.clip(round(14 + 4 * severity(24) + rng.normal(0, 3)), 0, 40))
        outcomes.append(f"{record},{saps},-1,-1,-1,{died}")
    (folder / "Outcomes-s.txt").write_text("\n".join(outcomes) + "\n")
    return folder


# ----------------------------------------------------------------------------------------- baseline features

STATISTICS = ("first", "last", "min", "max", "mean", "count")


def summary_features(stay: Stay) -> np.ndarray:
    """The baselines' features: per variable (cleaned) first, last, min, max, mean and count over the 48 hours
    (NaN where never measured; count 0), in VARIABLES x STATISTICS order."""
    index, values, keep = clean(stay.index, stay.values)
    index, values = index[keep], values[keep]
    out = np.full((len(VARIABLES), len(STATISTICS)), np.nan, "float32")
    out[:, 5] = 0
    for v in np.unique(index):
        x = values[index == v]
        out[v] = (x[0], x[-1], x.min(), x.max(), x.mean(), len(x))
    return out.reshape(-1)


def feature_names() -> list[str]:
    return [f"{v} {s}" for v in VARIABLES for s in STATISTICS]


# ------------------------------------------------------------ the field's scores and the baselines

def scores(died: np.ndarray, p: np.ndarray, prevalence: float) -> dict:
    """AUROC, AUPRC, Brier score and the challenge's event-1 score min(Se, +P), with the stays flagged being the
    `prevalence` fraction (the training stays' death rate) most at risk: when as many are flagged as die,
    Se = +P, so the rule needs no threshold tuned on labels."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    flagged = p >= np.quantile(p, 1 - prevalence)
    hits = float((flagged & (died == 1)).sum())
    se, ppv = hits / max(int(died.sum()), 1), hits / max(int(flagged.sum()), 1)
    return {"AUROC": float(roc_auc_score(died, p)), "AUPRC": float(average_precision_score(died, p)),
            "min(Se, +P)": min(se, ppv), "Brier": float(brier_score_loss(died, np.clip(p, 0, 1)))}


SAPS = "SAPS-I score (logistic calibration)"


def summary_models() -> dict:
    """The baselines on per-variable summary statistics (summary_features)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"summary statistics + logistic regression": lambda: make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler(),
                LogisticRegression(C=0.1, max_iter=5000)),
            "summary statistics + gradient boosting": lambda: HistGradientBoostingClassifier(
                learning_rate=0.03, max_iter=400, max_leaf_nodes=15, l2_regularization=1.0, random_state=0)}


def features(stays: Stays) -> np.ndarray:
    """(stays, variables x statistics) summary features of the baselines (summary_features)."""
    return np.stack([summary_features(s) for s in stays.stays])


def baselines(train: Stays, test: Stays, train_features: np.ndarray,
              test_features: np.ndarray) -> dict[str, np.ndarray]:
    """{name: probabilities for `test`} of SAPS-I alone (its score turned into a probability by a logistic
    regression fitted on `train`; unknown -> the training median) and the summary-statistics models fitted on
    `train`."""
    from sklearn.linear_model import LogisticRegression

    seen = ~np.all(np.isnan(train_features), axis=0)  # variables never measured in training (ICUType in set A)
    fill = float(np.nanmedian(train.saps))
    saps = LogisticRegression().fit(np.nan_to_num(train.saps, nan=fill)[:, None], train.died)
    out = {SAPS: saps.predict_proba(np.nan_to_num(test.saps, nan=fill)[:, None])[:, 1]}
    for name, make in summary_models().items():
        out[name] = make().fit(train_features[:, seen], train.died).predict_proba(test_features[:, seen])[:, 1]
    return out
