# Set-up and everyday commands. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
SAMPLE ?= 120
GOAL ?= I would like to cluster the texts based on the topics it is discussing about; each cluster should have a description of 'has a topic of <something>'

export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

# llama-cpp-python compiles from source. Its default build (-march=native) takes AMX on Xeons that
# have it, and the AMX matrix path crashed decoding (SIGSEGV in ggml_backend_amx_mul_mat, seen on
# this project's machine); a wheel built that way also fails on a CPU without those instructions
# when a pip cache carries it to another machine. So it is built once, for x86-64-v3 (AVX2, FMA,
# F16C), into a wheel folder named by those flags, and installed from there.
# The version comes from the one pin in constraints.txt, so the wheel built is the one installed.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' constraints.txt)
ifeq ($(shell uname -m),x86_64)
LLAMA_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_BUILD := x86-64-v3
else
LLAMA_FLAGS :=
LLAMA_BUILD := default
endif
WHEELS ?= $(HOME)/.cache/goalcluster/wheels/$(LLAMA_BUILD)

.PHONY: install browser demo test lint models clean

$(BIN)/goalcluster: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=24"
	# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install torch==2.13.0
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_FLAGS)" \
		$(BIN)/pip wheel --no-deps --no-cache-dir "llama-cpp-python==$(LLAMA_VERSION)" -w $(WHEELS)
	$(BIN)/pip install --find-links $(WHEELS) -c constraints.txt -e ".[small,server,ray,service,web,evals,dev]"
	$(BIN)/goalcluster models --prepare
	touch $@

install: $(BIN)/goalcluster

# Headless Chromium for the HTML report's browser test (Debian's package).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium; }

demo: install
	rm -rf runs/demo
	$(BIN)/goalcluster run $(DATA)/syngoalex/data.jsonl --goal "$(GOAL)" --sample $(SAMPLE) \
		--max-clusters 6 --out runs/demo

test: install browser
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

models: install
	$(BIN)/goalcluster models

clean:
	rm -rf $(VENV) build *.egg-info runs
