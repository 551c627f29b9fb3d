// A channel to the cores and the per-call context: TLS or plaintext, API key, deadline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "asr/v1/asr.grpc.pb.h"

namespace asrclient {

struct Options {
  std::string server;                          // gRPC target: HOST:PORT, dns:///HOST:PORT, unix:PATH
  bool tls = false;                            // TLS trusting the system's CAs (implied by ca)
  std::string ca;                              // PEM file of the CA to trust
  std::string api_key;                         // sent as `authorization: Bearer KEY`
  std::optional<std::chrono::milliseconds> timeout;  // deadline of each call; none = no deadline
};

// $ASR_SERVER, else localhost:50051.
std::string DefaultServer();
// $ASR_API_KEY, else "".
std::string DefaultApiKey();

// The stub on a new channel (round robin over the target's addresses, as the other SDKs); throws
// std::runtime_error when the CA file cannot be read.
std::unique_ptr<asr::v1::RecognizerService::Stub> Connect(const Options& options);

// Sets the API key metadata and the deadline on a call's context.
void PrepareCall(grpc::ClientContext& context, const Options& options);

}  // namespace asrclient
