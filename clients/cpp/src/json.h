// The JSON lines of `transcribe --json`, with the Python CLI's field names (docs/clients.md).
#pragma once

#include <string>

#include "asr/v1/asr.pb.h"

namespace asrclient {

std::string ResultJson(const asr::v1::RecognitionResult& result);
std::string SummaryJson(const asr::v1::SessionSummary& summary);
std::string Quote(const std::string& text);  // a JSON string literal

}  // namespace asrclient
