# Estuary: the two commands a new user needs.
#   make demo   set up what running needs (apt, .venv, deps) and run the main demo
#   make test   set up that plus the test tools and message brokers, and run the test suite
.PHONY: setup setup-test demo test bench bench-peers clean

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

demo: setup
	.venv/bin/python -m estuary.cli demo

test: setup-test
	.venv/bin/python -m pytest -q tests

# the CPU comparison of issue #12 (docs/benchmarks.md); bench-peers installs Roboflow's pipeline
# (streamvision) and the trackers package into .venv-peers, apart from Estuary's own .venv
bench: setup-test
	.venv/bin/python bench/cpu_compare.py

bench-peers:
	python3 -m venv .venv-peers
	.venv-peers/bin/pip install -q streamvision onnxruntime trackers

clean:
	rm -rf .venv out
