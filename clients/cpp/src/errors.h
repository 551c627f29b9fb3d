// A failed call's status as the other clients report it: the code's name, the core's google.rpc
// details (BadRequest, RetryInfo) read from the status, a hint, and the CLI's exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace asrclient {

enum Exit { kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitUnreachable = 3, kExitRejected = 4, kExitInterrupted = 130 };

struct FieldViolation {
  std::string field;
  std::string description;
};

struct CallError {
  grpc::StatusCode code;
  std::string message;
  std::optional<double> retry_after_seconds;
  std::vector<FieldViolation> field_violations;
  // A bare UNAVAILABLE (the core always attaches details to its own): nothing answered at the address.
  bool unreachable = false;
};

CallError FromStatus(const grpc::Status& status);

// UNAUTHENTICATED, not 16.
std::string CodeName(grpc::StatusCode code);

// Prints "error: ..." with what to do to stderr; returns the exit code.
int Report(const CallError& error, const std::string& address);

}  // namespace asrclient
