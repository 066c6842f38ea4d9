# RNN application suite. `make help` lists the targets and the variables.
#: Variables (passed to the pipelines; `python -m pipelines.<domain> train --help` describes every option):
#:   QUICK=1             tiny configuration that finishes in seconds
#:   EPOCHS= SEED= BATCH_SIZE= RNN=   training options (RNN: e.g. lstm:64, bigru:128x2)
#:   SOURCE=             auto | local | tfds | synthetic (and others per domain; see --help)
#:   DATA_DIR=           folder of real data for --source local (default $RNN_DATA_DIR/<dataset>)
#:   RUN_DIR=            run folder (checkpoints, history, report)
#:   CONFIG=             a JSON/TOML file of options, or a run's report.json to re-run it
#:   INPUT=              predict: the input (RECORD= ECG, TEXT= sentiment/translation, WAV= speech/transcription,
#:                       VIDEO= action, IMAGE= captioning)
#:   MODEL=              evaluate/predict: a SavedModel version folder (default: the latest)
#:   STRATEGY=           default | mirrored | multiworker
#:   MIXED_PRECISION=    off | mixed_float16 | mixed_bfloat16
#:   ARGS="--any --other=options"
#:   SEEDS=1,2,3         gradients, stream, compare-*, paired: the seeds to average over (paired: to pair)
#:   MODELS=ecg,sentiment PORT=8501   serve: which exported models, and the port (TF Serving's REST port)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# a trainer started here gets SIGTERM when make dies, even by kill -9 (shared.cli.die_with_parent): no orphan run
export RNN_DIE_WITH_PARENT := 1
DOMAINS := ecg sentiment weather stock translation speech transcription action captioning textgen icu music anomaly

OPTS = $(if $(QUICK),--quick) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(SOURCE),--source $(SOURCE)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(RNN),--rnn $(RNN)) $(if $(SEED),--seed $(SEED)) \
	$(if $(BATCH_SIZE),--batch-size $(BATCH_SIZE)) $(if $(RUN_DIR),--run-dir $(RUN_DIR)) $(if $(CONFIG),--config $(CONFIG)) \
	$(if $(INPUT),--input $(INPUT)) $(if $(RECORD),--input $(RECORD)) $(if $(TEXT),--input "$(TEXT)") $(if $(WAV),--input $(WAV)) \
	$(if $(VIDEO),--input $(VIDEO)) $(if $(IMAGE),--input $(IMAGE)) \
	$(if $(MODEL),--model $(MODEL)) $(if $(STRATEGY),--strategy $(STRATEGY)) \
	$(if $(MIXED_PRECISION),--mixed-precision $(MIXED_PRECISION)) $(ARGS)

ANATOMY_OPTS = $(if $(QUICK),--quick) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(SOURCE),--source $(SOURCE)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(BATCH_SIZE),--batch-size $(BATCH_SIZE)) \
	$(if $(RUN_DIR),--run-dir $(RUN_DIR)) $(ARGS)
COMPARED := ecg sentiment weather

.PHONY: help setup lock browser test test-fast bundle-ecg render-notebooks bench serve lint clean notebook tensorboard gradients stream paired $(addprefix compare-,$(COMPARED)) $(addprefix train-,$(DOMAINS)) $(addprefix evaluate-,$(DOMAINS)) \
	$(addprefix export-,$(DOMAINS)) $(addprefix predict-,$(DOMAINS))

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'
	@sed -nE 's/^\$$\(addprefix ([a-z]+)-.*## (.*)/\1-<domain>\t\2/p' $(MAKEFILE_LIST) | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'
	@echo "  domains: $(DOMAINS)"
	@sed -nE 's/^#: ?/  /p' $(MAKEFILE_LIST)

setup: $(STAMP) ## create .venv with python3 and install the suite (-e .[dev]) at the tested versions (constraints.txt)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || { echo "setup: creating the virtual environment $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "setup: updating pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "setup: installing the suite and its dependencies at the tested versions (constraints.txt: TensorFlow, Keras, ... about 2 GB, a few minutes the first time)"
	@$(PY) -m pip install --quiet --progress-bar off -c constraints.txt -e '.[dev]'
	@touch $@
	@echo "setup: done; .venv/bin/rnn-suite --help lists the pipelines, make help the targets"

lock: ## refresh constraints.txt from .venv after upgrading and testing (pip freeze: the versions the tests passed with)
	@echo "# The package versions the test suite passed with (make lock writes it from .venv: pip freeze)." > constraints.txt
	@echo "# make setup installs with -c constraints.txt; to upgrade: pip install -U <pkg>, make test, make lock." >> constraints.txt
	$(PY) -m pip freeze --exclude-editable >> constraints.txt

browser: ## install Debian's Chromium when it is missing (root + apt) for the ECG page's browser test, which skips without it
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium is not installed (needs root and apt-get): the ECG page's browser test will skip"

test: setup browser ## run the test suite (offline; real-data tests skip without RNN_DATA_DIR)
	$(PY) -m pytest -n 2 --dist loadgroup -q --durations=15

test-fast: setup ## the inner loop: the tests not marked slow (no training runs, no real data; about a minute)
	$(PY) -m pytest -n 2 --dist loadgroup -q -m "not slow"

bench: setup ## measure every pipeline's training/input/serving speed and memory -> BENCHMARKS.md (+ .json)
	$(PY) -m tools.bench $(ARGS)

serve: setup ## serve saved_models/ over HTTP with TF Serving's REST API + POST /v1/ecg:analyze (docs/serving.md)
	$(PY) -m tools.serve --port $(or $(PORT),8501) $(if $(MODELS),--models $(MODELS)) $(ARGS)

bundle-ecg: setup ## rebuild the real ECG model shipped in saved_models/ecg/0 from MIT-BIH DS1 + SVDB ($$RNN_DATA_DIR, or DATA_DIR=mitdb,svdb folders): the default recipe and its cross-validation, then its calls on records 208 and svdb/865 kept beside it (checks.jsonl) for the test that it still serves them
	$(PY) -m pipelines.ecg train --source local --run-dir runs/ecg-bundle --restart --as-version 0 $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(PY) -m pipelines.ecg predict --model saved_models/ecg/0 --run-dir runs/ecg-bundle --json $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
	  --input 208 svdb/865 > saved_models/ecg/0/checks.jsonl

render-notebooks: setup ## run every notebook and save it with its outputs (figures, tables) in docs/notebooks/ (NAMES="00_tour_ecg weather" for some)
	$(PY) docs/render_notebooks.py $(NAMES)

tensorboard: setup ## TensorBoard on the runs' training logs (RUN_DIR=runs/ecg for one run; PORT=6006)
	$(PY) -m tensorboard.main --logdir $(or $(RUN_DIR),runs) --port $(or $(PORT),6006)

notebook: setup ## start JupyterLab on notebooks/ in the project's environment (installs jupyterlab on first use)
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install --quiet -e '.[notebooks]'
	$(PY) -m jupyter lab notebooks/

lint: setup ## ruff over the project
	$(VENV)/bin/ruff check .

clean: ## remove runs/, exported models and caches (keeps .venv)
	rm -rf runs saved_models/*/ .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

$(addprefix compare-,$(COMPARED)): compare-%: setup ## the five RNN types on ecg, sentiment or weather -> runs/compare-<domain>/ (SEEDS=1,2 EPOCHS=)
	$(PY) -m tools.anatomy compare --domain $* $(ANATOMY_OPTS)

paired: setup ## settings compared fold by fold over seeds on a grouped CV (DOMAIN=speech|ecg, SEEDS=, ARGS="--setting 'name=--option value' ...") -> runs/paired-<domain>/
	$(PY) -m tools.paired $(or $(DOMAIN),speech) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(DATA_DIR),--base "--data-dir $(DATA_DIR)") $(if $(RUN_DIR),--run-dir $(RUN_DIR)) $(ARGS)

gradients: setup ## ||dL/dh_t|| through time per cell type, and gradient clipping -> runs/gradients/
	$(PY) -m tools.anatomy gradients $(ANATOMY_OPTS)

stream: setup ## truncated-BPTT weather forecaster served chunk by chunk with carried state -> runs/stream/
	$(PY) -m tools.anatomy stream $(ANATOMY_OPTS)

$(addprefix train-,$(DOMAINS)): train-%: setup ## train, evaluate, report and export in one go
	$(PY) -m pipelines.$* train $(OPTS)

$(addprefix evaluate-,$(DOMAINS)): evaluate-%: setup ## evaluate the run's best checkpoint on the test split
	$(PY) -m pipelines.$* evaluate $(OPTS)

$(addprefix export-,$(DOMAINS)): export-%: setup ## export the run's best checkpoint as a new SavedModel version
	$(PY) -m pipelines.$* export $(OPTS)

# not echoed: stdout is the result alone (ARGS=--json gives JSON lines only)
$(addprefix predict-,$(DOMAINS)): predict-%: setup ## run the latest SavedModel on new input (INPUT=; RECORD= for ECG, TEXT= for text, WAV= speech, transcription, VIDEO= action, IMAGE= captioning)
	@$(PY) -m pipelines.$* predict $(OPTS)
