import json

import numpy as np
import pytest
import tensorflow as tf

from domain import speech as audio_data
from pipelines import transcription
from pipelines.speech.audio import features as audio
from shared import export, pipeline
from tests.conftest import run_quick


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(transcription, tmp_path_factory.mktemp("transcription"))


def test_quick_run_beats_random_transcripts(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    random_wer = report["baselines"]["random digits, right count (baseline)"]["WER"]
    assert result["WER"] < random_wer - 20
    assert report["timing"]["audio_seconds_per_second"] > 0 and "Examples" in (root / "run" / "report.md").read_text()
    assert "test speakers m4,f3" in report["source"]


def test_exported_model_takes_raw_audio_and_matches_python(quick_run):
    cfg, root, _ = quick_run
    clips = audio_data.synthesize(("seven", "two", "four"), takes=1, seed=9, speakers=audio_data.SYNTH_TEST_SPEAKERS)
    sequence = audio_data.sequences(clips, 3, seed=1)
    python_text = [transcription.ctc_decode(x[None])[0]
                   for x in audio.predict_logits(transcription.load_trained(cfg), sequence)]
    path = export.latest("transcription", root / "saved_models")
    assert [t.decode() for t in audio.serve(path, sequence.audio)["text"]] == python_text
    broken = [clips.audio[0].copy(), clips.audio[1]]
    broken[0][100] = np.nan  # a NaN sample: refused by the graph, as the server refuses it
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"audio.+ = nan is outside \[-2, 2\]"):
        audio.serve(path, broken)
    quiet = audio.serve(path, [np.zeros(8000, "float32"), clips.audio[1]])["text"]  # silence: flagged, not refused
    assert quiet[0].decode() == "invalid input" and quiet[1].decode() != "invalid input"
    with pytest.raises(ValueError, match="speech"):  # the word model's export is not a transcriber
        export.load(path, "speech")


def test_evaluate_command_reuses_the_checkpoint(quick_run):
    cfg, root, result = quick_run
    assert pipeline.evaluate_checkpoint(transcription, cfg)["WER"] == pytest.approx(result["WER"])


def test_ctc_decoding_on_hand_made_logits():
    def frames(ids, vocab=11):
        out = np.full((len(ids), vocab), -10.0, "float32")
        out[np.arange(len(ids)), ids] = 10.0
        return out
    # blank, two, two, blank, two, four, four, blank -> "two two four" (repeats merged unless a blank separates)
    logits = frames([0, 3, 3, 0, 3, 5, 5, 0])[None]
    assert transcription.ctc_decode(logits) == ["two two four"]
    assert transcription.ctc_decode(logits, beam_width=4) == ["two two four"]
    assert transcription.ctc_decode(frames([0, 0, 0])[None]) == [""]
    labels = np.array([[3, 3, 5, 0, 0]])
    right = float(transcription.ctc_loss(labels, logits))
    wrong = float(transcription.ctc_loss(np.array([[2, 5, 0, 0, 0]]), logits))
    assert right < 0.1 < 10 < wrong
    assert float(transcription.ctc_loss(np.array([[3, 3, 5]]), logits)) == pytest.approx(right, rel=1e-5)  # padding ignored


def test_config_refuses_bad_options():
    for bad, option in (({"beam_width": 0}, "--beam-width"), ({"sequences": 5}, "--sequences"),
                        ({"source": "youtube"}, "--source"), ({"speed": 0.7}, "--speed")):
        with pytest.raises(ValueError, match=option):
            transcription.Config(**bad)
