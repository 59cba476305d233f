# Two entry points: `make run` (the app on the demo song) and `make test`.
# Both install what they need from nothing, idempotently, into .venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
APT_PACKAGES := fluidsynth fluid-soundfont-gm timgm6mb-soundfont espeak-ng libportaudio2 libsndfile1 \
	jackd2 xvfb xauth libxkbcommon-x11-0 libegl1 libgl1 libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-shape0 libdbus-1-3 libfontconfig1
DEMO := amssfx/assets/demo.flac
RUN_QUERY ?= apply heavy lowpass to drums

# Recorded material of the training renderer (amssfx/data/sources.py lists what is used and its licence);
# only training needs it: `make lab`.
LAB_APT_PACKAGES := hydrogen-drumkits sonic-pi-samples lmms-common ktuberling-data csound-soundfont

.PHONY: run test bench fuzz system venv clean lab

system: $(VENV)/.system-stamp
$(VENV)/.system-stamp: Makefile
	@mkdir -p $(VENV)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	@touch $@

venv: $(VENV)/.venv-stamp
$(VENV)/.venv-stamp: $(VENV)/.system-stamp setup.cfg pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@# torch first, pinned: the local CPU build; nothing else may pull another torch.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[gui,train,export,test]'
	@! $(PIP) list 2>/dev/null | grep -qi '^nvidia-' || (echo "a CUDA package was installed" && exit 1)
	@touch $@

run: venv
	@if [ -n "$$DISPLAY" ] || [ "$$QT_QPA_PLATFORM" = offscreen ]; then \
		$(VENV)/bin/amssfx app $(DEMO); \
	else \
		echo "no display: running the same job through the CLI"; \
		mkdir -p out && $(VENV)/bin/amssfx process $(DEMO) --query "$(RUN_QUERY)" -o out/demo_processed.wav --force && \
		echo "result: $$(pwd)/out/demo_processed.wav"; \
	fi

test: venv
	$(PY) -m pytest -q -ra tests

bench: venv
	$(VENV)/bin/amssfx bench

lab: venv
	@missing=$$(for p in $(LAB_APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info

fuzz: venv
	AMSSFX_FUZZ_EXAMPLES=40000 $(PY) -m pytest -q tests/test_fuzz.py
