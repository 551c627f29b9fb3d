# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
STUBS  := proto/gen/python/asr/v1/asr_pb2.py
BUF    := .tools/node_modules/.bin/buf
PROTOS := $(wildcard proto/asr/v1/*.proto)

.PHONY: install stubs models run test lint bench bench-compare clean

install: $(STAMP) $(STUBS) models

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the CPU wheel, so no extra can make pip choose a CUDA build.
	$(BIN)/pip install -q 'torch==2.13.0'
	$(BIN)/pip install -q -e '.[dev,all]'
	# silero-vad is only needed for its ONNX file; its torch deps are not.
	$(BIN)/pip install -q --no-deps 'silero-vad==6.2.3'
	# the published WhisperLive client, for the bridge conformance test (its deps pull torch/CUDA)
	$(BIN)/pip install -q --no-deps 'whisper-live==0.10.0'
	touch $@

$(STUBS): $(PROTOS) $(STAMP)
	mkdir -p proto/gen/python
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto/gen/python --pyi_out=proto/gen/python \
		--grpc_python_out=proto/gen/python $(PROTOS)
	touch proto/gen/python/asr/__init__.py proto/gen/python/asr/v1/__init__.py
	$(PY) -c "import site,os; open(os.path.join(site.getsitepackages()[0],'asr_gateway_stubs.pth'),'w').write(os.path.abspath('proto/gen/python')+'\n')"

stubs: $(STUBS)

models: $(STAMP)
	$(PY) -m core_service.models assemble

run: install
	$(PY) -m core_service.stack

test: install
	$(PY) -m pytest -q -ra

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
	rm -rf $(VENV) proto/gen .models .pytest_cache
