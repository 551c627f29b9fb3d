// engines: the server's engines and models (ListEngines), one line each; --json for the message as JSON.
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "connection.h"
#include "errors.h"
#include "flags.h"

namespace {
constexpr const char* kUsage =
    "usage: engines [--server TARGET] [--tls | --ca PEM] [--api-key KEY] [--timeout SECONDS] [--json]\n";
constexpr double kDefaultTimeoutSeconds = 30;

void PrintTable(const asr::v1::ListEnginesResponse& reply) {
  for (const asr::v1::EngineInfo& engine : reply.engines()) {
    std::cout << engine.name() << (engine.name() == reply.default_engine() ? " (default)" : "")
              << (engine.available() ? "  available" : "  UNAVAILABLE: " + engine.unavailable_reason())
              << "  default model: " << (engine.default_model().empty() ? "-" : engine.default_model()) << "\n";
    for (const asr::v1::ModelInfo& model : engine.models()) {
      std::cout << "    " << (model.name() == engine.default_model() ? "* " : "- ") << model.name()
                << (model.available() ? " [available]" : " [UNAVAILABLE: " + model.unavailable_reason() + "]") << "\n";
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  using namespace asrclient;
  Options options;
  bool as_json = false;
  try {
    Flags flags(argc, argv, {"json", "help", "h"}, {});
    if (flags.Has("help") || flags.Has("h")) {
      std::cout << kUsage;
      return kExitOk;
    }
    if (!flags.positionals().empty()) throw UsageError("engines takes no arguments");
    options = flags.Connection();
    if (!options.timeout) options.timeout = std::chrono::milliseconds(static_cast<long long>(kDefaultTimeoutSeconds * 1000));
    as_json = flags.Has("json");
  } catch (const UsageError& error) {
    std::cerr << "error: " << error.what() << "\n" << kUsage;
    return kExitUsage;
  }
  try {
    auto stub = Connect(options);
    grpc::ClientContext context;
    PrepareCall(context, options);
    asr::v1::ListEnginesResponse reply;
    grpc::Status status = stub->ListEngines(&context, asr::v1::ListEnginesRequest(), &reply);
    if (!status.ok()) return Report(FromStatus(status), options.server);
    if (as_json) {
      std::string json;
      google::protobuf::util::MessageToJsonString(reply, &json);
      std::cout << json << "\n";
    } else {
      PrintTable(reply);
    }
    return kExitOk;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return kExitFailure;
  }
}
