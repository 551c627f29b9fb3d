# Node client (included by the Makefile at the root; paths are from the root).
# npm brings TypeScript, ts-proto (the buf plugin) and @grpc/grpc-js, pinned by package-lock.json.
NODE_DIR     := clients/node
NODE_DEPS    := $(NODE_DIR)/node_modules/.installed
NODE_STUBS   := $(NODE_DIR)/src/gen/asr/v1/asr.ts
NODE_CLI     := $(NODE_DIR)/dist/cli.js
NODE_SOURCES := $(wildcard $(NODE_DIR)/src/*.ts)

.PHONY: stubs-node node-client

$(NODE_DEPS): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --silent
	touch $@

$(NODE_STUBS): $(PROTOS) $(NODE_DIR)/buf.gen.yaml $(NODE_DEPS) | $(BUF)
	$(BUF) generate --template $(NODE_DIR)/buf.gen.yaml

$(NODE_CLI): $(NODE_STUBS) $(NODE_SOURCES) $(NODE_DIR)/tsconfig.json
	$(NODE_DIR)/node_modules/.bin/tsc -p $(NODE_DIR)/tsconfig.json

stubs-node: $(NODE_STUBS)
node-client: $(NODE_CLI)
