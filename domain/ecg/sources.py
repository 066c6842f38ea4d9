"""Where ECG records come from: local folders (one database each: MIT-BIH, SVDB or any annotated WFDB folder),
PhysioNet (checked by SHA-256), or the synthetic generator; and the beats of the inter-patient split read from them
(load_data): MIT-BIH's DS1 and every record of the other databases train, DS2 tests, and each --test-dir folder is
scored once by the final model."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import urllib.request

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import records as record_data
from domain.ecg import synthetic
from domain.ecg.databases import KNOWN, MITDB, Database, identify, label, record_names
from domain.ecg.records import DS1, DS2
from domain.sources import data_folder, resolve_auto, sha256
from shared.progress import progress

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "download", "synthetic")
PHYSIONET_HOST = "physionet.org"
DATABASES = tuple(KNOWN)  # the databases --databases may name (their folders: default_data_dir)


def default_data_dir(database: str = MITDB.name) -> pathlib.Path:
    """A database's folder by the suite's one rule (domain.sources.data_folder: $RNN_DATA_DIR/<database>, else
    data/<database>, where `download` writes)."""
    return data_folder(database)


def verify(data_dir: pathlib.Path, sums_text: str, names: list[str]) -> None:
    """Check the .hea/.dat/.atr files of `names` against a SHA256SUMS text ('<hex>  <file>' lines).
    A mismatch deletes the bad file and raises, so a corrupt download is never used."""
    expected = {}
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[pathlib.Path(parts[1]).name] = parts[0].lower()
    for name in names:
        for suffix in (".hea", ".dat", ".atr"):
            path = data_dir / f"{name}{suffix}"
            want = expected.get(path.name)
            if want is None:
                raise ValueError(f"{path.name}: no SHA-256 in PhysioNet's list; cannot verify the download.")
            if sha256(path) != want:
                path.unlink()
                raise ValueError(f"{path}: SHA-256 does not match PhysioNet's ({want[:12]}...); the file was "
                                 "removed. Run the download again.")


def download(data_dir: pathlib.Path, database: Database = MITDB) -> pathlib.Path:
    """Download a database's records from PhysioNet with wfdb.dl_database and verify them against PhysioNet's
    SHA256SUMS (MIT-BIH: DS1 and DS2, not the paced records; SVDB: all 78)."""
    import wfdb

    names = list(DS1 + DS2) if database.name == MITDB.name else list(database.records)
    data_dir.mkdir(parents=True, exist_ok=True)
    wfdb.dl_database(database.name, str(data_dir), records=names, annotators=["atr"])
    with urllib.request.urlopen(database.sums_url, timeout=30) as response:
        verify(data_dir, response.read().decode(), names)
    log.info("downloaded and verified %d %s records into %s", len(names), database.title, data_dir)
    return data_dir


def resolve(source: str, data_dirs: tuple[str, ...] | list[str] = (), *, databases: tuple[str, ...] = DATABASES,
            cache_dir: pathlib.Path, synthetic_minutes: float = 5.0, seed: int = 0) -> tuple[str, list[pathlib.Path]]:
    """(source that ran, folders of WFDB records, one database each) for `source` in SOURCES.

    The folders are `data_dirs` when given, else each of `databases` in its default folder (default_data_dir).
    local: the folders that hold records (a given folder without records is an error; a default folder that is
    absent is left out, as long as one is there); download: PhysioNet into the folders (each of `databases` in
    order); synthetic: generated MIT-BIH-like records in cache_dir; auto: local if a folder holds records, else
    download if PhysioNet answers within seconds, else synthetic; never synthetic when folders were given.
    """
    if source not in SOURCES:
        raise ValueError(f"ECG source {source!r}: expected one of {list(SOURCES)}.")
    unknown = [name for name in databases if name not in KNOWN]
    if unknown:
        raise ValueError(f"--databases {','.join(databases)}: {unknown[0]!r} is not one of {', '.join(KNOWN)}.")
    given = [pathlib.Path(d) for d in data_dirs if d]
    for folder in given:
        if source in ("auto", "local") and not folder.is_dir():
            what = "a file, not a folder" if folder.exists() else "no such folder"
            raise FileNotFoundError(f"--data-dir {folder}: {what}; give a folder of WFDB records (a mistyped folder "
                                    "must not fall back to another source).")
    folders = given or [default_data_dir(name) for name in databases]
    holding = [folder for folder in folders if record_names(folder)]
    if given and source in ("auto", "local") and len(holding) < len(given):
        empty = next(folder for folder in given if folder not in holding)
        raise FileNotFoundError(f"--data-dir {empty}: no WFDB records (.hea files) in it; give folders of annotated "
                                "records (MIT-BIH, SVDB), or leave --data-dir out for the default source.")
    ran = resolve_auto(source, holding, remote="download", host=PHYSIONET_HOST)
    if ran == "local":
        if not holding:
            raise FileNotFoundError(f"no WFDB records (.hea files) in {', '.join(map(str, folders))}; pass --data-dir "
                                    "with MIT-BIH records, or use --source download / --source synthetic.")
        return "local", holding
    if ran == "download":
        targets = [*given, *(default_data_dir(name) for name in databases[len(given):])]
        return "download", [download(folder, KNOWN[name]) for folder, name in zip(targets, databases, strict=False)]
    if source == "auto":
        log.info("no records in %s and PhysioNet is unreachable: using synthetic records",
                 ", ".join(map(str, folders)))
    out = cache_dir / "synthetic-mitdb"
    synthetic.write_records(out, DS1 + DS2, minutes=synthetic_minutes, seed=seed)
    return "synthetic", [out]


@dataclasses.dataclass
class ECGData:
    """Beats of the record-disjoint splits: train (MIT-BIH's DS1 and every record of the other training databases),
    validation (empty unless hold_out), test (DS2; empty without DS2 records), `tests` ({database: beats} of each
    --test-dir folder, scored once by the final model), `resampled` (the training records of the databases sampled
    faster than the slowest one, read through its rate (records.through_rate); empty when the rates are the same),
    `records` ({record label: {"database", "lead", "fs"}}: which lead of which database each record gave), the
    source that ran, its folders, the split and what happened while reading."""

    train: beat_data.BeatSet
    validation: beat_data.BeatSet
    test: beat_data.BeatSet
    source: str
    data_dirs: list[pathlib.Path]
    split: dict
    notes: list[str]
    tests: dict[str, beat_data.BeatSet] = dataclasses.field(default_factory=dict)
    resampled: beat_data.BeatSet | None = None
    records: dict[str, dict] = dataclasses.field(default_factory=dict)

    def database_of(self, beats: beat_data.BeatSet) -> np.ndarray:
        """The database name of every beat of `beats` (by its record)."""
        names = {name: info["database"] for name, info in self.records.items()}
        return np.array([names.get(r, MITDB.name) for r in beats.records.tolist()], dtype=object)


def empty_beats(window: int) -> beat_data.BeatSet:
    return beat_data.BeatSet(np.zeros((0, window), "float32"), np.zeros((0, window), "float32"),
                             np.zeros((0, len(beat_data.RR_FEATURES)), "float32"), np.zeros(0, "int32"),
                             np.zeros(0, str), np.zeros(0, "int64"))


def read_split(cfg, data_dir: pathlib.Path, names: list[str], notes: list[str], *, database: Database | None = None,
               records: dict | None = None, through: float = 0.0) -> tuple[beat_data.BeatSet, beat_data.BeatSet]:
    """(beats of the named records, the same records read through `through` Hz when it is below their rate, else
    empty). A record without the database's lead is skipped with a note, unless cfg.first_lead; each record goes by
    databases.label (svdb/800) and its database, lead and rate are added to `records`."""
    database = database or identify(data_dir)
    sets, slow = [], []
    for name in progress(names, f"reading {database.name} records", unit="record"):
        try:
            record = record_data.read_record(data_dir / name, first_lead_fallback=cfg.first_lead)
        except ValueError as error:
            if "lead" not in str(error):
                raise
            log.warning("%s", error)
            notes.append(str(error))
            continue
        named = label(database, name)
        if records is not None:
            records[named] = {"database": database.name, "lead": record.lead, "fs": record.original_fs}
        if record.original_fs != record_data.FS and database.name == MITDB.name:
            notes.append(f"record {name} resampled from {record.original_fs:g} Hz to {record_data.FS} Hz")
        if record.repaired_samples:
            notes.append(f"record {named}: {record.repaired_samples} missing samples interpolated")
        sets.append(relabel(beat_data.extract(record, cfg.before, cfg.after, template=cfg.template), named))
        if through and through < record.original_fs:
            slow.append(relabel(beat_data.extract(record_data.through_rate(record, through), cfg.before, cfg.after,
                                                  template=cfg.template), named))
    if names and not sets:
        raise ValueError(f"none of the records {names} in {data_dir} could be read; see the messages above.")
    join = lambda parts: beat_data.BeatSet.concat(parts) if parts else empty_beats(cfg.window)  # noqa: E731
    return join(sets), join(slow)


def relabel(beats: beat_data.BeatSet, name: str) -> beat_data.BeatSet:
    return dataclasses.replace(beats, records=np.full(len(beats), name))


def folder_rate(folder: pathlib.Path, database: Database) -> float:
    """A database's sampling rate: its published one, else its first record's header's."""
    if database.fs:
        return database.fs
    import wfdb

    names = record_names(folder)
    try:
        return float(wfdb.rdheader(str(folder / names[0])).fs or 0.0) if names else 0.0
    except Exception:  # noqa: BLE001 - an unreadable header is reported, with the record named, when it is read
        return 0.0


def _identified(folders: list[pathlib.Path], test_dirs) -> tuple[list, list]:
    """([(training folder, its database)], [(test folder, its database)]); a database in two folders, or a test
    folder without records, refused naming the fix."""
    found = [(folder, identify(folder)) for folder in folders]
    tests = [(pathlib.Path(folder), identify(folder)) for folder in test_dirs]
    names = [db.name for _, db in found + tests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        where = ", ".join(str(folder) for folder, db in found + tests if db.name == twice[0])
        raise ValueError(f"two folders hold the {twice[0]} records ({where}); each database may train or test, in "
                         "one folder.")
    for folder, _ in tests:
        if not record_names(folder):
            raise FileNotFoundError(f"--test-dir {folder}: no WFDB records (.hea files) in it; give a folder of "
                                    "annotated records.")
    return found, tests


def _mitdb_split(available: list[str], hold_out: bool, folder: pathlib.Path, note) -> dict:
    """MIT-BIH's inter-patient split (DS1 trains, DS2 tests; with hold_out, held-out DS1 records validate), and a
    note when DS2 is absent."""
    mine = beat_data.split_records(available, beat_data.VALIDATION if hold_out else (), hold_out=hold_out)
    if not mine["test"]:
        note(f"DS2 records are absent from {folder}: no test split. The estimate of performance on "
             "new patients is the leave-records-out cross-validation on the training records.")
    elif mine["test_is_held_out_ds1"]:
        note(f"DS2 records are absent from {folder}: testing on held-out DS1 records {mine['test']} "
             "instead of DS2, so the published DS2 figures are a reference, not a like-for-like "
             "comparison.")
    return mine


def load_data(cfg) -> ECGData:
    """Resolve the source, split records inter-patient and extract beats. `cfg`: the ECG pipeline's Config (source,
    data_dir, databases, test_dir, mix_rates, run_dir, synthetic_minutes, seed, hold_out, first_lead, before,
    after, template, window). Every database's records train except MIT-BIH's DS2 (the test) and, with hold_out,
    MIT-BIH's held-out records."""
    source, folders = resolve(cfg.source, cfg.data_dir, databases=cfg.databases, cache_dir=pathlib.Path(cfg.run_dir),
                              synthetic_minutes=cfg.synthetic_minutes, seed=cfg.seed)
    notes = []

    def note(text: str) -> None:
        notes.append(text)
        log.warning("%s", text)
    if source == "local" and not cfg.data_dir:
        for name in cfg.databases:
            if default_data_dir(name) not in folders:
                note(f"the {KNOWN[name].title} is not in {default_data_dir(name)}: trained without it (put its "
                     "records there, or name the folders with --data-dir).")
    found, tests = _identified(folders, cfg.test_dir)
    slowest = min(folder_rate(folder, db) or record_data.FS for folder, db in found)
    split = {"train": [], "validation": [], "test": [], "test_is_held_out_ds1": False, "databases": {}, "tests": {}}
    parts = {"train": [], "validation": [], "test": []}
    resampled, records = [], {}
    for folder, database in found:
        available = record_names(folder)
        if database.name == MITDB.name:
            mine = _mitdb_split(available, cfg.hold_out, folder, note)
            split["test_is_held_out_ds1"] = mine["test_is_held_out_ds1"]
        else:
            mine = {"train": available, "validation": [], "test": []}
        through = slowest if cfg.mix_rates else 0.0
        for part in ("train", "validation", "test"):
            beats, slow = read_split(cfg, folder, mine[part], notes, database=database, records=records,
                                     through=through if part == "train" else 0.0)
            parts[part].append(beats)
            resampled.append(slow)
            split[part] += [label(database, name) for name in mine[part]]
        split["databases"][database.name] = {"title": database.title, "folder": folder.name,
                                             "records": len(mine["train"]) + len(mine["validation"]) +
                                             len(mine["test"]), "lead": database.lead,
                                             "fs": folder_rate(folder, database)}
    extra = {}
    for folder, database in tests:
        extra[database.name], _ = read_split(cfg, folder, record_names(folder), notes, database=database,
                                             records=records)
        split["tests"][database.name] = sorted(set(extra[database.name].records.tolist()))
    sets = {part: beat_data.BeatSet.concat(p) for part, p in parts.items()}
    slow = beat_data.BeatSet.concat(resampled)
    for part, beats in sets.items():
        log.info("%s: %d records, %d beats %s, %d dropped at record edges", part, len(split[part]), len(beats),
                 beats.counts(record_data.AAMI_CLASSES), beats.dropped)
    if len(slow):
        log.info("training records read through %g Hz as well (mixed into training, scored as a stress set): %d "
                 "records", slowest, len(set(slow.records.tolist())))
    for name, beats in extra.items():
        log.info("test folder %s: %d records, %d beats %s", name, len(split["tests"][name]), len(beats),
                 beats.counts(record_data.AAMI_CLASSES))
    return ECGData(sets["train"], sets["validation"], sets["test"], source, folders, split, notes, extra,
                   slow if len(slow) else None, records)
