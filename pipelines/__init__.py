"""The applications, one package each (`pipelines/<name>/`: its options and story in `__init__`, its stages in
`stages.py`), and the tools that run on top of them (bench, anatomy, paired, serve). The contract is in
shared/pipeline.py. Importing a package loads no TensorFlow: the command line reads its options first (help and
usage errors answer at once), and TensorFlow loads, its start-up notices hidden (shared.startup), when the work
starts."""
