# make run: open the app.  make test: run every test.  make test-fast: one seed per claim, no browser.
# make bench: performance figures.  make claims: every page's claims over five seeds, as a table.
# Each sets up .venv first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-fast claims bench weights pretrain lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-fast: $(VENV)/.installed
	CLAIM_SEEDS=0 $(PY) -m pytest -q -m "not browser"

claims: $(VENV)/.installed
	$(PY) scripts/claims.py

bench: $(VENV)/.installed
	$(PY) -m engine bench

weights: $(VENV)/.installed
	$(PY) -m engine download

pretrain: $(VENV)/.installed
	$(PY) -m engine pretrain

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check engine lessons views tests scripts app.py

clean:
	rm -rf $(VENV) .pytest_cache
