"""`python -m pipelines.transcription train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import transcription
from shared import pipeline

pipeline.main(transcription)
