# host-anomaly-exporter: `make demo` and `make test` each do the whole set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 9840
# demo and run listen on localhost only; HOST=0.0.0.0 (or HOST= for every IPv4/IPv6 interface) exposes them
HOST   ?= 127.0.0.1
SPEED  ?= 20
DEMO_DATA    := data/smd-demo
DEMO_MACHINE := machine-1-6

.PHONY: help demo test test-slow lint run bench deb system-deps clean

help:
	@echo "make demo   - set up the agent and replay SMD $(DEMO_MACHINE) with the default model on $(HOST):$(PORT)"
	@echo "make test   - set up everything (training extras, Prometheus tools), lint, and run the tests"
	@echo "make lint   - ruff check, ruff format --check, mypy (configured in pyproject.toml)"
	@echo "make run    - run the agent live on this host on $(HOST):$(PORT) (examples/quickstart.yaml: 5 s interval, 5 min calibration)"
	@echo "make bench  - footprint/speed/detection benchmarks -> bench/results/*.json"
	@echo "make deb    - build dist/host-anomaly-exporter_*.deb"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The agent alone: no TensorFlow.
$(VENV)/.agent: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Training pipeline, fleet (Ray: +80 MB download, +250 MB installed, docs/fleet.md) and test tools on top.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[train,dev,fleet]'
	touch $(VENV)/.agent $@

# Real Prometheus/Alertmanager/node_exporter/lintian for the tests that claim their behaviour;
# podman, runc and mmdebstrap for the container tests (systemd as PID 1 on a local bookworm root);
# chromium (headless) for the landing page's screenshot test.
system-deps:
	@missing=""; for t in prometheus promtool prometheus-alertmanager prometheus-node-exporter lintian strace openssl podman runc mmdebstrap chromium; do \
	  command -v $$t >/dev/null 2>&1 || [ -x /usr/bin/$$t ] || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      prometheus prometheus-alertmanager prometheus-node-exporter lintian strace openssl \
	      python3-venv dpkg-dev podman runc mmdebstrap chromium >/dev/null; \
	  else echo "note: missing$$missing (apt-get install as root); tests needing them are skipped"; fi; \
	fi

# The demo starts 920 rows before a long labelled incident (row 18600, 3161 rows) of the demo machine: the
# agent calibrates on the first 720 rows as a new host would (36 s at 20 rows/s), then scores.
DEMO_START   ?= 17680
DEMO_WARMUP  ?= 720
demo: $(VENV)/.agent
	@echo
	@echo "Replaying SMD $(DEMO_MACHINE) (test split from row $(DEMO_START), $(SPEED) rows/s) through the default model (models/default)."
	@echo "  The agent calibrates on the first $(DEMO_WARMUP) rows (~$$(($(DEMO_WARMUP) / $(SPEED))) s), as on a new host."
	@echo "  A long labelled incident starts at row 18600, ~$$(((18600 - $(DEMO_START)) / $(SPEED))) s in: watch the score cross 1 and the top contributors:"
	@echo "    watch -n1 \"curl -s localhost:$(PORT)/metrics | grep -E '^host_anomaly_(score|anomalous|replay_label|top_contributor)'\""
	@echo "  status page: http://localhost:$(PORT)/ (a text browser works too), or $(BIN)/anomaly-agent status --web.listen-address :$(PORT)"
	@echo "  health:   curl -s localhost:$(PORT)/healthz     model: curl -s localhost:$(PORT)/model"
	@echo "  Ctrl-C stops."
	@echo
	$(BIN)/anomaly-agent replay --data $(DEMO_DATA) --machine $(DEMO_MACHINE) --speed $(SPEED) \
	  --start $(DEMO_START) --calibrate $(DEMO_WARMUP) --bundle models/default --web.listen-address $(HOST):$(PORT)

run: $(VENV)/.agent
	$(BIN)/anomaly-agent run --config.file examples/quickstart.yaml --web.listen-address $(HOST):$(PORT)

# Lint first (fast, and CI runs it through here): ruff's rules and format, mypy on agent/ training/ bench/.
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(VENV)/.dev system-deps lint
	$(BIN)/python -m pytest -q -m "not slow"

# The long checks (.deb build/install, the .deb under systemd as PID 1, alert end-to-end, soak in its short form);
# .ci/run runs them too.
test-slow: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -q -m slow

bench: $(VENV)/.dev system-deps
	$(BIN)/python -m bench

deb: $(VENV)/.agent
	bash packaging/deb/build.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
