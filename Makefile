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

# two workers (pytest-xdist), tests handed out as workers free up: most of the suite's time is
# end-to-end runs that wait on decoders, brokers and subprocesses, so on a 2-core machine two
# at a time took 17 minutes against 23 one at a time (docs/testing.md says what that asks of a test)
test: setup-test
	.venv/bin/python -m pytest -q -n 2 --dist worksteal tests

# the CPU comparison of issue #12 (docs/benchmarks.md); bench-peers installs Roboflow's pipeline
# (streamvision) and the trackers package into .venv-peers, apart from Estuary's own .venv
bench: setup-test
	.venv/bin/python bench/cpu_compare.py

bench-peers:
	python3 -m venv .venv-peers
	.venv-peers/bin/pip install -q streamvision onnxruntime trackers

clean:
	rm -rf .venv out
