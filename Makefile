# `make demo` and `make test` set up a fresh machine on their own: both depend on the virtualenv.
# `make clean` removes the environment only, never a workspace (that is the user's data).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

install: $(STAMP)

# torch is installed first and pinned: an unpinned torch would pull several GB of CUDA wheels.
# Debian's chromium is the browser the dashboard's end-to-end test drives (no browser download).
$(STAMP): pyproject.toml
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# DeepSpeed compiles its shared-memory communication op (C++) the first time CPU training
	# runs; compile it here, once per machine, not inside the first training run (or test).
	# Only a warm-up: where it cannot be built, training builds it (or says why) itself.
	-$(BIN)/python -c "from deepspeed.ops.op_builder.cpu.comm import ShareMemCommBuilder; \
		ShareMemCommBuilder().load(verbose=False)" >/dev/null 2>&1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mousegpt demo

bench: $(STAMP)
	$(BIN)/python benchmarks/real_validity.py
	$(BIN)/python benchmarks/stages.py
	$(BIN)/python benchmarks/tracker_accuracy.py
	$(BIN)/python benchmarks/tracker_speed.py
	$(BIN)/python benchmarks/pose_import.py
	$(BIN)/python benchmarks/synth_speed.py
	$(BIN)/python benchmarks/describer_speed.py
	$(BIN)/python benchmarks/describer_quality.py
	$(BIN)/python benchmarks/profile_stats.py
	$(BIN)/python benchmarks/discovery_quality.py
	$(BIN)/python benchmarks/discovery_scale.py

# Lint and format are checked, never applied, here; `make format` applies them.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25 tests

clean:
	rm -rf $(VENV) .pytest_cache
