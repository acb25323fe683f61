# Two commands matter: `make demo` and `make test`. Everything else is a step they take.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test chromium axe bench bench-scale bench-scale-full bench-tls bench-memory chaos lint clean

# The virtualenv with the plugin (editable) and the test extras; rebuilt when the metadata changes.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

.venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fic demo

# Browser tests drive Debian's chromium; never download a browser build.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The accessibility checker the browser tests inject into the screens, from the npm registry into
# tests/browser/node_modules (pinned in tests/browser/package.json).
AXE := tests/browser/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/browser/package.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for axe-core (apt-get install npm)"; exit 1; }
	npm install --prefix tests/browser --no-audit --no-fund --no-package-lock --silent
	touch $(AXE)

# Three pytest processes (pytest-xdist), a test file kept whole in one process: the files that share
# a service's state (a Redis database number, a sandbox they reset) never run beside themselves.
# Most tests wait on a server, a browser or a subprocess, so on 2 cores a third process still
# finds a core idle: 6.5 minutes against 8 with two and 9.5 with one.
TEST_PROCESSES ?= 3
test: $(STAMP) chromium axe
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

chaos: $(STAMP)
	$(BIN)/python bench/chaos.py

# Many shops on Celery (needs Redis at 127.0.0.1:6379, db 13; FIC_BENCH_REDIS_URL to change it).
bench-scale: $(STAMP)
	$(BIN)/python bench/bench_scale.py

# The issue's size once (1,000 shops x 20 orders on 4 worker processes, one killed and replaced): about 45 minutes.
bench-scale-full: $(STAMP)
	$(BIN)/python bench/bench_scale_full.py

# One worker's memory as it serves 1,024 shops, with FIC_OPEN_SHOPS at 256 and 64: about 20 minutes.
bench-memory: $(STAMP)
	$(BIN)/python bench/bench_memory_shops.py

# What a FiC client costs a worker that opens shop after shop, over HTTPS (a few seconds).
bench-tls: $(STAMP)
	$(BIN)/python bench/bench_tls_clients.py

lint: $(STAMP)
	$(BIN)/ruff check src tests hooks bench examples
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
