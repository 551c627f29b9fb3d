#include "json.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace asrclient {

namespace {
double Seconds(const google::protobuf::Duration& d) { return std::round((d.seconds() + d.nanos() / 1e9) * 1e9) / 1e9; }

// A proto float32 as the decimal it was meant to be (0.815, not 0.8149999976158142).
double F32(float x) { return std::round(static_cast<double>(x) * 1e6) / 1e6; }

std::string Number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", x);
  return text;
}
}  // namespace

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through as it is
        }
    }
  }
  return out + "\"";
}

std::string ResultJson(const asr::v1::RecognitionResult& r) {
  std::ostringstream out;
  out << "{\"type\":\"result\",\"segment_id\":" << r.segment_id() << ",\"text\":" << Quote(r.text())
      << ",\"is_final\":" << (r.is_final() ? "true" : "false") << ",\"start\":" << Number(Seconds(r.start_offset()))
      << ",\"end\":" << Number(Seconds(r.end_offset())) << ",\"stability\":" << Number(F32(r.stability()))
      << ",\"confidence\":" << Number(F32(r.confidence())) << ",\"words\":[";
  for (int i = 0; i < r.words_size(); ++i) {
    const asr::v1::WordInfo& w = r.words(i);
    out << (i ? "," : "") << "{\"word\":" << Quote(w.word()) << ",\"start\":" << Number(Seconds(w.start_offset()))
        << ",\"end\":" << Number(Seconds(w.end_offset())) << ",\"confidence\":" << Number(F32(w.confidence())) << "}";
  }
  out << "],\"language\":" << Quote(r.language()) << ",\"language_probability\":"
      << Number(F32(r.language_probability())) << ",\"processing_time\":" << Number(Seconds(r.processing_time()))
      << ",\"channel\":" << r.channel_tag() << "}";
  return out.str();
}

std::string SummaryJson(const asr::v1::SessionSummary& s) {
  return "{\"type\":\"summary\",\"audio_processed\":" + Number(Seconds(s.audio_processed())) +
         ",\"segment_count\":" + std::to_string(s.segment_count()) + ",\"transcript\":" + Quote(s.transcript()) + "}";
}

}  // namespace asrclient
