# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
STUBS  := asr/v1/asr_pb2.py
BUF    := .tools/node_modules/.bin/buf
PROTOS := $(wildcard proto/asr/v1/*.proto)

.PHONY: install stubs models run test test-isa lint bench bench-compare clean stubs-all clients-all

install: $(STAMP) $(STUBS) models

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the CPU wheel, so no extra can make pip choose a CUDA build.
	$(BIN)/pip install -q 'torch==2.13.0'
	$(BIN)/pip install -q -e '.[dev,all]'
	# older checkouts put the stubs on sys.path with a .pth (now they are the package asr/)
	$(PY) -c "import site,os; p=os.path.join(site.getsitepackages()[0],'asr_gateway_stubs.pth'); os.path.exists(p) and os.remove(p)"
	rm -rf proto/gen
	# silero-vad is only needed for its ONNX file; its torch deps are not.
	$(BIN)/pip install -q --no-deps 'silero-vad==6.2.3'
	# the published WhisperLive client, for the bridge conformance test (its deps pull torch/CUDA)
	$(BIN)/pip install -q --no-deps 'whisper-live==0.10.0'
	# the speaker encoder's weights (docs/diarization.md); its librosa/webrtcvad deps are not needed
	$(BIN)/pip install -q --no-deps 'resemblyzer==0.1.4'
	touch $@

# The asr.v1 stubs are the generated package asr/ (proto/generate.py, never committed): setup.py
# generates them during the install above; this rule regenerates them when a .proto changes.
$(STUBS): $(PROTOS) | $(STAMP)
	$(PY) proto/generate.py --force

stubs: $(STUBS)

models: $(STAMP)
	$(PY) -m core_service.models assemble
	$(PY) -m core_service.diarization.encoder

run: install
	$(PY) -m asr_stack

test: install
	$(PY) -m pytest -q -ra

# The int8 kernels differ by instruction set (AVX2, AVX-512) and a close call can land on either
# side: the language and real-speech tests again with CTranslate2 and oneDNN held to $(ISA), so
# a test that depends on the CPU fails on any machine (issue 23). ISA=AVX512 / AVX / GENERIC too.
ISA ?= AVX2
ISA_TESTS := tests/core/test_multilingual.py tests/core/test_accuracy_real_speech.py
test-isa: install
	CT2_VERBOSE=1 CT2_FORCE_CPU_ISA=$(ISA) $(PY) -c "import ctranslate2; from core_service.models import tiny_en_path; ctranslate2.models.Whisper(str(tiny_en_path()))" 2>&1 | grep -E "CPU:|ISA"
	CT2_FORCE_CPU_ISA=$(ISA) ONEDNN_MAX_CPU_ISA=$(subst GENERIC,SSE41,$(ISA)) $(PY) -m pytest -q -ra $(ISA_TESTS)

$(BUF):
	npm install --no-save --silent --prefix .tools @bufbuild/buf

lint: $(BUF)
	$(BUF) lint

bench: install
	$(PY) -m bench.latency
	$(PY) -m bench.bridge_overhead
	$(PY) -m bench.accuracy

bench-compare: install
	PYTHON=$(PYTHON) bash bench/setup_whisperlive_ref.sh
	$(PY) -m bench.whisperlive_compare

clean:
	rm -rf $(VENV) asr build proto/gen .models .pytest_cache clients/node/node_modules clients/node/src/gen clients/node/dist clients/go/gen clients/cpp/gen

# Clients in other languages (docs/clients.md): `make stubs-all` generates their asr.v1 stubs with
# `buf generate` and local plugins only; `make clients-all` also builds them. Each language has its
# own template (clients/<lang>/buf.gen.yaml) and writes into its own gitignored clients/<lang>/gen/
# (Node: src/gen/), so a missing toolchain fails only its own language.
stubs-all: stubs-node stubs-go stubs-cpp
clients-all: node-client go-client cpp-client

include clients/node/node.mk
include clients/go/go.mk
include clients/cpp/cpp.mk
