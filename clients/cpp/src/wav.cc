#include "wav.h"

#include <iostream>
#include <sys/stat.h>

namespace asrclient {

namespace {
std::uint32_t U32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
}
std::uint16_t U16(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(b[0] | (b[1] << 8));
}
}  // namespace

int AudioFormat::FrameBytes() const {
  const bool wide = encoding == asr::v1::AUDIO_ENCODING_FLOAT32 || encoding == asr::v1::AUDIO_ENCODING_INT32;
  return (wide ? 4 : 2) * channels;
}

AudioSource::AudioSource(const std::string& path, const std::optional<AudioFormat>& raw)
    : in_(&std::cin), name_(path == "-" ? "standard input" : path) {
  if (path != "-") {
    struct stat info;
    if (stat(path.c_str(), &info) != 0) throw AudioFormatError("no such file: " + path);
    if (S_ISDIR(info.st_mode)) throw AudioFormatError(path + " is a directory, not an audio file");
    file_.open(path, std::ios::binary);
    if (!file_) throw AudioFormatError("cannot read " + path);
    in_ = &file_;
  }
  if (raw) {
    format_ = *raw;
  } else {
    ReadWavHeader();
  }
  if (format_.sample_rate < 8000 || format_.sample_rate > 48000) {
    throw AudioFormatError("sample rate " + std::to_string(format_.sample_rate) +
                           " Hz is outside 8000..48000; resample it first");
  }
  if (format_.channels < 1 || format_.channels > 8) {
    throw AudioFormatError(std::to_string(format_.channels) + " channels; the server takes 1 to 8");
  }
}

void AudioSource::ReadWavHeader() {
  char riff[12];
  if (!in_->read(riff, 12) || std::string(riff, 4) != "RIFF" || std::string(riff + 8, 4) != "WAVE") {
    throw AudioFormatError(name_ + ": not a WAV file (no RIFF/WAVE header); for headerless audio pass --raw");
  }
  bool have_format = false;
  while (true) {
    char head[8];
    if (!in_->read(head, 8)) throw AudioFormatError(name_ + ": the WAV file ends before its data chunk");
    const std::string id(head, 4);
    const std::uint32_t size = U32(head + 4);
    if (id == "data") {
      if (!have_format) throw AudioFormatError(name_ + ": the WAV file has its data chunk before its fmt chunk");
      // 0 and 0xFFFFFFFF are what recorders write when they stream before knowing the length.
      if (size != 0 && size != 0xFFFFFFFFu) remaining_ = size;
      return;
    }
    std::string body(size + size % 2, '\0');  // chunks are padded to an even length
    if (!in_->read(body.data(), static_cast<std::streamsize>(body.size()))) {
      throw AudioFormatError(name_ + ": the WAV file ends inside its " + id + " chunk");
    }
    if (id != "fmt " || size < 16) continue;
    std::uint16_t tag = U16(body.data());
    const std::uint16_t bits = U16(body.data() + 14);
    if (tag == 0xFFFE && size >= 26) tag = U16(body.data() + 24);  // WAVE_FORMAT_EXTENSIBLE's SubFormat
    format_.channels = U16(body.data() + 2);
    format_.sample_rate = static_cast<int>(U32(body.data() + 4));
    if (tag == 1 && bits == 16) format_.encoding = asr::v1::AUDIO_ENCODING_LINEAR16;
    else if (tag == 1 && bits == 32) format_.encoding = asr::v1::AUDIO_ENCODING_INT32;
    else if (tag == 3 && bits == 32) format_.encoding = asr::v1::AUDIO_ENCODING_FLOAT32;
    else throw AudioFormatError(name_ + ": unsupported WAV sample format (format tag " + std::to_string(tag) + ", " +
                                std::to_string(bits) + " bits); use 16- or 32-bit PCM or 32-bit float");
    have_format = true;
  }
}

bool AudioSource::Next(std::string& chunk, std::size_t bytes) {
  if (remaining_ && *remaining_ < bytes) bytes = static_cast<std::size_t>(*remaining_);
  chunk.resize(bytes);
  in_->read(chunk.data(), static_cast<std::streamsize>(bytes));
  std::size_t got = static_cast<std::size_t>(in_->gcount());
  got -= got % static_cast<std::size_t>(format_.FrameBytes());  // the server takes whole frames only
  chunk.resize(got);
  if (remaining_) *remaining_ -= got;
  return got > 0;
}

}  // namespace asrclient
