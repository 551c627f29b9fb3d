#include "connection.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace asrclient {

namespace {
constexpr int kMessageLimitBytes = 16 * 1024 * 1024;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the CA file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

std::string DefaultServer() {
  const char* server = std::getenv("ASR_SERVER");
  return server && *server ? server : "localhost:50051";
}

std::string DefaultApiKey() {
  const char* key = std::getenv("ASR_API_KEY");
  return key ? key : "";
}

std::unique_ptr<asr::v1::RecognizerService::Stub> Connect(const Options& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls || !options.ca.empty()) {
    grpc::SslCredentialsOptions ssl;  // empty roots = the system's
    if (!options.ca.empty()) ssl.pem_root_certs = ReadFile(options.ca);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  arguments.SetLoadBalancingPolicyName("round_robin");
  arguments.SetMaxReceiveMessageSize(kMessageLimitBytes);
  arguments.SetMaxSendMessageSize(kMessageLimitBytes);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  return asr::v1::RecognizerService::NewStub(grpc::CreateCustomChannel(options.server, credentials, arguments));
}

void PrepareCall(grpc::ClientContext& context, const Options& options) {
  // Call metadata rather than call credentials: the key goes on plaintext channels too (a trusted
  // network), as with the Python SDK; use TLS whenever the server is not on this machine.
  if (!options.api_key.empty()) context.AddMetadata("authorization", "Bearer " + options.api_key);
  if (options.timeout) context.set_deadline(std::chrono::system_clock::now() + *options.timeout);
}

}  // namespace asrclient
