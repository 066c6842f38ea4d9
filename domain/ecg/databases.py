"""The annotated ECG databases the pipeline reads, one folder each: which lead of each is the MLII-like one, the
records PhysioNet publishes, their rate, and how a folder is recognised (by its record names).

MIT-BIH Arrhythmia (mitdb): 48 records at 360 Hz, lead MLII; DS1 trains and DS2 tests (de Chazal et al. 2004).
MIT-BIH Supraventricular Arrhythmia (svdb): 78 records at 128 Hz, leads ECG1/ECG2 (ECG1 the modified limb lead, the
MLII-like one); every record present trains. Any other folder of WFDB records is a database of its own, named by
its folder, read on its MLII lead (or its first lead with --first-lead).

Notebook:
    database = databases.identify("data/svdb")    # SVDB: lead ECG1, 128 Hz
    databases.lead_of(["ECG1", "ECG2"], "800")    # "ECG1"
"""

from __future__ import annotations

import dataclasses
import pathlib

# Inter-patient split of de Chazal, O'Dwyer & Reilly (2004); paced records excluded as AAMI recommends.
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203", "205",
       "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214", "219",
       "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")


def record_names(data_dir: str | pathlib.Path) -> list[str]:
    """Names of the records (by .hea file) in a folder, sorted."""
    data_dir = pathlib.Path(data_dir)
    return sorted(p.stem for p in data_dir.glob("*.hea")) if data_dir.is_dir() else []


@dataclasses.dataclass(frozen=True)
class Database:
    """One annotated database: `name` (its PhysioNet slug, or a user folder's name), `title`, `lead` (the MLII-like
    signal name the model reads), `fs` (its published rate; 0 unknown), `records` (its published record names;
    empty for a user folder), `version` (PhysioNet's, for the download) and `licence`."""

    name: str
    title: str
    lead: str
    fs: float = 0.0
    records: tuple[str, ...] = ()
    version: str = ""
    licence: str = ""

    @property
    def sums_url(self) -> str:
        """PhysioNet's SHA256SUMS.txt of the database (empty for a user folder)."""
        return f"https://physionet.org/files/{self.name}/{self.version}/SHA256SUMS.txt" if self.version else ""


MITDB = Database("mitdb", "MIT-BIH Arrhythmia Database", "MLII", 360.0, tuple(sorted(DS1 + DS2 + PACED)), "1.0.0",
                 "Open Data Commons Attribution 1.0")
SVDB = Database("svdb", "MIT-BIH Supraventricular Arrhythmia Database", "ECG1", 128.0,
                tuple(str(n) for n in [*range(800, 813), *range(820, 830), *range(840, 895)]), "1.0.0",
                "Open Data Commons Attribution 1.0")
KNOWN = {db.name: db for db in (MITDB, SVDB)}


def identify(folder: str | pathlib.Path) -> Database:
    """The database a folder of WFDB records holds: MIT-BIH or SVDB when every record name is one of its published
    records (the generated records are named like MIT-BIH's), else a database of its own named by the folder."""
    folder = pathlib.Path(folder)
    names = set(record_names(folder))
    for database in KNOWN.values():
        if names and names <= set(database.records):
            return database
    return Database(folder.name or "records", f"records in {folder.name}", "MLII")


def lead_of(signal_names: list[str], record: str) -> str | None:
    """The MLII-like lead of a record with these signal names: MLII when it has one, else the lead its database
    names (SVDB's ECG1, for a record named like SVDB's that has it); None when neither is there."""
    if MITDB.lead in signal_names:
        return MITDB.lead
    for database in KNOWN.values():
        if record in database.records and database.lead in signal_names:
            return database.lead
    return None


def label(database: Database, record: str) -> str:
    """The name a record goes by in the beats and the reports: MIT-BIH's as they are (the de Chazal split names
    them), any other database's prefixed by it (svdb/800), so two databases' record names never meet."""
    return record if database.name == MITDB.name else f"{database.name}/{record}"


def database_of(record_label: str) -> str:
    """The database name of a record label made by `label`."""
    return record_label.split("/", 1)[0] if "/" in record_label else MITDB.name
