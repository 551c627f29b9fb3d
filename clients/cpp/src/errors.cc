#include "errors.h"

#include <iostream>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>

namespace asrclient {

namespace {
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// google.rpc.BadRequest { repeated FieldViolation field_violations = 1; }
//   FieldViolation { string field = 1; string description = 2; }
// google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
// Read field by field: Debian's packages carry no googleapis headers, and these are small and stable.
void AddDetail(const google::protobuf::Any& detail, CallError& error) {
  UnknownFieldSet fields;
  if (!fields.ParseFromString(detail.value())) return;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.number() != 1 || field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    if (detail.type_url() == "type.googleapis.com/google.rpc.RetryInfo") {
      google::protobuf::Duration delay;
      if (delay.ParseFromString(field.length_delimited())) error.retry_after_seconds = delay.seconds() + delay.nanos() / 1e9;
    } else if (detail.type_url() == "type.googleapis.com/google.rpc.BadRequest") {
      UnknownFieldSet violation;
      if (!violation.ParseFromString(field.length_delimited())) continue;
      FieldViolation found;
      for (int j = 0; j < violation.field_count(); ++j) {
        const UnknownField& part = violation.field(j);
        if (part.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
        if (part.number() == 1) found.field = part.length_delimited();
        if (part.number() == 2) found.description = part.length_delimited();
      }
      error.field_violations.push_back(found);
    }
  }
}
}  // namespace

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                       "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index <= 16 ? kNames[index] : std::to_string(index);
}

CallError FromStatus(const grpc::Status& status) {
  CallError error{status.error_code(), status.error_message(), std::nullopt, {}, false};
  // google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
  UnknownFieldSet fields;
  if (!status.error_details().empty() && fields.ParseFromString(status.error_details())) {
    for (int i = 0; i < fields.field_count(); ++i) {
      const UnknownField& field = fields.field(i);
      google::protobuf::Any detail;
      if (field.number() == 3 && field.type() == UnknownField::TYPE_LENGTH_DELIMITED &&
          detail.ParseFromString(field.length_delimited())) {
        AddDetail(detail, error);
      }
    }
  }
  error.unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE && status.error_details().empty();
  return error;
}

int Report(const CallError& error, const std::string& address) {
  if (error.unreachable) {
    std::cerr << "error: cannot reach the ASR server at " << address << ": " << error.message
              << "\nStart it with `make run`, or point to a running one with --server HOST:PORT or the ASR_SERVER "
                 "environment variable.\n";
    return kExitUnreachable;
  }
  const std::string name = CodeName(error.code);
  const bool failed = name == "INTERNAL" || name == "UNKNOWN" || name == "DEADLINE_EXCEEDED" || name == "DATA_LOSS";
  std::cerr << "error: the server at " << address << (failed ? " failed" : " refused") << " the request: " << name
            << ": " << error.message << "\n";
  for (const FieldViolation& v : error.field_violations) {
    if (v.description == error.message) std::cerr << "  field: " << v.field << "\n";
    else std::cerr << "  " << v.field << ": " << v.description << "\n";
  }
  if (name == "UNAUTHENTICATED") {
    std::cerr << "The server needs an API key: pass --api-key KEY or set ASR_API_KEY.\n";
  } else if (name == "DEADLINE_EXCEEDED") {
    std::cerr << "The call took longer than --timeout allows; raise it or leave it out.\n";
  } else if (error.retry_after_seconds) {
    std::cerr << "The server is busy; try again in " << *error.retry_after_seconds << " s.\n";
  }
  return kExitRejected;
}

}  // namespace asrclient
