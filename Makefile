# Estuary: the two commands a new user needs.
#   make demo   set up everything (apt, .venv, deps) and run the main demo
#   make test   set up everything and run the test suite
.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python -m estuary.cli demo

test: setup
	.venv/bin/python -m pytest -q tests

clean:
	rm -rf .venv out
