// Audio in: a WAV or headerless PCM file, or stdin ("-"), read in chunks of whole frames.
// The server resamples and downmixes, so samples are sent in the source's own format.
#pragma once

#include <cstdint>
#include <fstream>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>

#include "asr/v1/asr.pb.h"

namespace asrclient {

struct AudioFormat {
  asr::v1::AudioEncoding encoding = asr::v1::AUDIO_ENCODING_LINEAR16;  // little-endian
  int sample_rate = 16000;  // 8000..48000
  int channels = 1;         // 1..8
  int FrameBytes() const;
};

// The file cannot be sent as audio: bad usage, not a server fault.
class AudioFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AudioSource {
 public:
  // Opens `path` ("-" = stdin) as WAV, or as headerless PCM in `raw`'s format; throws AudioFormatError.
  AudioSource(const std::string& path, const std::optional<AudioFormat>& raw);
  const AudioFormat& format() const { return format_; }
  // Up to `bytes` (whole frames) of samples into `chunk`; false at the end.
  bool Next(std::string& chunk, std::size_t bytes);

 private:
  void ReadWavHeader();
  std::ifstream file_;
  std::istream* in_;
  std::string name_;
  AudioFormat format_;
  std::optional<std::uint64_t> remaining_;  // bytes of samples the WAV header announces
};

}  // namespace asrclient
