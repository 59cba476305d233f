# Two entry points: `make run` (the app on the demo song) and `make test`.
# Both install what they need from nothing, idempotently, into .venv: `make run` only what the app and
# the CLI need (no torch, no training packages, no FluidSynth or JACK); `make test` everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
APT_RUN := libportaudio2 libsndfile1 libxkbcommon-x11-0 libegl1 libgl1 libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-shape0 libdbus-1-3 libfontconfig1
APT_TEST := $(APT_RUN) ffmpeg fluidsynth fluid-soundfont-gm timgm6mb-soundfont espeak-ng jackd2 xvfb xauth
# Recorded material of the training renderer (amssfx/data/sources.py lists what is used and its licence);
# only training needs it: `make lab`.
APT_LAB := $(APT_TEST) hydrogen-drumkits sonic-pi-samples lmms-common ktuberling-data klettres-data csound-soundfont
DEMO := amssfx/assets/demo.flac
RUN_QUERY ?= apply heavy lowpass to drums

# apt-get install of the packages in $(1) that are missing (as root, or with sudo).
define apt_install
	@mkdir -p $(VENV)
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
endef

.PHONY: run test bench fuzz lab clean

$(VENV)/.system-run-stamp: Makefile
	$(call apt_install,$(APT_RUN))
	@touch $@

$(VENV)/.system-test-stamp: Makefile
	$(call apt_install,$(APT_TEST))
	@touch $@

$(VENV)/.venv-run-stamp: $(VENV)/.system-run-stamp setup.cfg pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q -e '.[gui]'
	@! $(PY) -c "import torch" 2>/dev/null || [ -f $(VENV)/.venv-test-stamp ] || (echo "torch was installed by make run" && exit 1)
	@touch $@

$(VENV)/.venv-test-stamp: $(VENV)/.system-test-stamp setup.cfg pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@# torch first, pinned: the local CPU build; nothing else may pull another torch.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[gui,train,export,batch,test]'
	@! $(PIP) list 2>/dev/null | grep -qi '^nvidia-' || (echo "a CUDA package was installed" && exit 1)
	@touch $@

run: $(VENV)/.venv-run-stamp
	@if [ -n "$$DISPLAY" ] || [ "$$QT_QPA_PLATFORM" = offscreen ]; then \
		$(VENV)/bin/amssfx app $(DEMO); \
	else \
		echo "no display: running the same job through the CLI"; \
		mkdir -p out && $(VENV)/bin/amssfx process $(DEMO) --query "$(RUN_QUERY)" -o out/demo_processed.wav --force && \
		echo "result: $$(pwd)/out/demo_processed.wav"; \
	fi

test: $(VENV)/.venv-test-stamp
	$(PY) -m pytest -q -ra tests

bench: $(VENV)/.venv-run-stamp
	$(VENV)/bin/amssfx bench

lab: $(VENV)/.venv-test-stamp
	$(call apt_install,$(APT_LAB))

clean:
	rm -rf $(VENV) build *.egg-info

fuzz: $(VENV)/.venv-test-stamp
	AMSSFX_FUZZ_EXAMPLES=40000 $(PY) -m pytest -q tests/test_fuzz.py
