# Go client (included by the Makefile at the root; paths are from the root).
# Built offline in GOPATH mode against Debian's Go libraries (/usr/share/gocode: golang-google-grpc-dev,
# golang-google-protobuf-dev, golang-google-genproto-dev, golang-github-golang-protobuf-1-5-dev), the
# versions Debian's protoc-gen-go and protoc-gen-go-grpc generate for; no module proxy, no go.sum.
# build/go/src/asr-gateway/clients/go links to clients/go, so the import path is asr-gateway/clients/go/...
GO_DIR      := clients/go
GO_STUBS    := $(GO_DIR)/gen/asr/v1/asr.pb.go
GO_BIN      := build/go/bin/transcribe
GO_LINK     := build/go/src/asr-gateway/clients/go
GO_ENV      := GO111MODULE=off GOPATH=$(CURDIR)/build/go:/usr/share/gocode GOPROXY=off GOFLAGS=
GO_PACKAGES := asr-gateway/clients/go/asrclient asr-gateway/clients/go/cmd/transcribe
GO_SOURCES  := $(wildcard $(GO_DIR)/asrclient/*.go $(GO_DIR)/cmd/*/*.go)

.PHONY: stubs-go go-client

$(GO_STUBS): $(PROTOS) $(GO_DIR)/buf.gen.yaml | $(BUF)
	$(BUF) generate --template $(GO_DIR)/buf.gen.yaml

$(GO_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR)/$(GO_DIR) $@

$(GO_BIN): $(GO_STUBS) $(GO_SOURCES) | $(GO_LINK)
	$(GO_ENV) go vet $(GO_PACKAGES)
	$(GO_ENV) go build -o $@ asr-gateway/clients/go/cmd/transcribe

stubs-go: $(GO_STUBS)
go-client: $(GO_BIN)
