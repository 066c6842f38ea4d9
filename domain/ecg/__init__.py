"""ECG domain: MIT-BIH records (WFDB), AAMI EC57 classes, beats and RR features, the inter-patient split,
the synthetic record generator, data sources and the field's metrics. NumPy/SciPy/wfdb only; no model code."""

from domain.ecg import beats, metrics, records, sources, synthetic
from domain.ecg.beats import RR_FEATURES, BeatSet, extract, filter_signal, rr_features, split_records
from domain.ecg.metrics import DE_CHAZAL_2004, aami_metrics, detection_agreement
from domain.ecg.records import AAMI_CLASSES, AAMI_MAP, DS1, DS2, FS, PACED, Record, aami_class, read_record

__all__ = ["AAMI_CLASSES", "AAMI_MAP", "DE_CHAZAL_2004", "DS1", "DS2", "FS", "PACED", "RR_FEATURES", "BeatSet",
           "Record", "aami_class", "aami_metrics", "detection_agreement", "extract", "filter_signal",
           "beats", "metrics", "read_record", "records", "rr_features", "sources", "split_records", "synthetic"]
