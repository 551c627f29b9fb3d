# C++ client (included by the Makefile at the root; paths are from the root).
# Stubs from protoc's built-in C++ generator and grpc_cpp_plugin (Debian's protobuf-compiler and
# protobuf-compiler-grpc), compiled with CMake against Debian's libgrpc++-dev and libprotobuf-dev.
CPP_DIR     := clients/cpp
CPP_STUBS   := $(CPP_DIR)/gen/asr/v1/asr.pb.cc
CPP_BUILD   := build/cpp
CPP_BIN     := $(CPP_BUILD)/transcribe
CPP_SOURCES := $(wildcard $(CPP_DIR)/src/*.cc $(CPP_DIR)/src/*.h) $(CPP_DIR)/CMakeLists.txt

.PHONY: stubs-cpp cpp-client

$(CPP_STUBS): $(PROTOS) $(CPP_DIR)/buf.gen.yaml | $(BUF)
	$(BUF) generate --template $(CPP_DIR)/buf.gen.yaml

$(CPP_BIN): $(CPP_STUBS) $(CPP_SOURCES)
	cmake -S $(CPP_DIR) -B $(CPP_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(CPP_BUILD) -j2

stubs-cpp: $(CPP_STUBS)
cpp-client: $(CPP_BIN)
