# Two commands on a fresh machine: `make run` (train the default recipe on built-in MNIST) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean

$(STAMP): pyproject.toml
	@# Fashion-MNIST's IDX files (data set 'fashion-mnist', its tests): Debian's dataset-fashion-mnist, as root with apt
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
		|| echo "warning: could not install dataset-fashion-mnist; data set 'fashion-mnist' and its tests need it" >&2; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build on local disk (a looser spec can pull a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/ganforge train configs/mnist_dcgan.toml --out runs/mnist --overwrite
	$(BIN)/ganforge sample runs/mnist --n 64 --seed 0 --out runs/mnist/grid.png

test: $(STAMP)
	$(BIN)/python -m pytest -q -rs

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
