// transcribe FILE|-: stream a WAV or raw PCM file (or stdin) to the asr.v1 server and print the
// transcript: one final per line on stdout, or JSON lines (partials included) with --json; everything
// else on stderr. Flags and exit codes as the Node, Go and Python CLIs (docs/clients.md).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "connection.h"
#include "errors.h"
#include "flags.h"
#include "json.h"
#include "wav.h"

namespace {
using namespace asrclient;

constexpr const char* kUsage = R"(usage: transcribe [flags] FILE|-

Stream a WAV file, raw PCM (--raw) or standard input (-) to the asr.v1 server; finals on stdout.

  --server TARGET, --tls, --ca PEM, --api-key KEY, --timeout SECONDS   the connection (as the other clients)
  --realtime          send audio at the speed of speech, like a microphone
  --chunk-ms N        audio per message (default 100)
  --raw               headerless PCM: --rate HZ (16000), --channels N (1), --encoding linear16|float32|int32
  --language TAG, --engine NAME, --model NAME, --translate
  --segmentation S    live or accurate (default: accurate, or the server's with --realtime)
  --no-interim        do not ask for partial results
  --json              one JSON object per result (partials and finals) and a summary on stdout
  -v                  log to stderr
)";

struct Settings {
  Options connection;
  std::string file;
  std::optional<AudioFormat> raw;
  asr::v1::StreamingConfig config;  // without the audio format, set from the source
  bool realtime = false, json = false, verbose = false;
  int chunk_ms = 100;
};

Settings Parse(int argc, char** argv) {
  Flags flags(argc, argv, {"realtime", "raw", "translate", "no-interim", "json", "v", "verbose", "help", "h"},
              {"chunk-ms", "rate", "channels", "encoding", "language", "engine", "model", "segmentation"});
  Settings s;
  if (flags.Has("help") || flags.Has("h")) throw UsageError("");
  if (flags.positionals().size() != 1) throw UsageError("give one audio file, or - for standard input");
  s.file = flags.positionals()[0];
  s.connection = flags.Connection();
  s.realtime = flags.Has("realtime");
  s.json = flags.Has("json");
  s.verbose = flags.Has("v") || flags.Has("verbose");
  s.chunk_ms = static_cast<int>(flags.PositiveNumber("chunk-ms", 100));
  if (flags.Has("raw")) {
    AudioFormat format;
    format.sample_rate = static_cast<int>(flags.PositiveNumber("rate", 16000));
    format.channels = static_cast<int>(flags.PositiveNumber("channels", 1));
    const std::map<std::string, asr::v1::AudioEncoding> encodings = {{"linear16", asr::v1::AUDIO_ENCODING_LINEAR16},
                                                                     {"float32", asr::v1::AUDIO_ENCODING_FLOAT32},
                                                                     {"int32", asr::v1::AUDIO_ENCODING_INT32}};
    const std::string encoding = flags.Get("encoding", "linear16");
    if (!encodings.count(encoding)) {
      throw UsageError("--encoding takes linear16, float32 or int32, not \"" + encoding + "\"");
    }
    format.encoding = encodings.at(encoding);
    s.raw = format;
  } else if (flags.Has("rate") || flags.Has("channels") || flags.Has("encoding")) {
    throw UsageError("--rate, --channels and --encoding describe --raw input; a WAV header says them itself");
  }
  const std::string segmentation = flags.Get("segmentation");
  if (segmentation == "live") {
    s.config.set_segmentation(asr::v1::SEGMENTATION_LIVE);
  } else if (segmentation == "accurate" || (segmentation.empty() && !s.realtime)) {
    // A file sent as fast as possible is transcribed for the record: accurate segmentation, within a
    // point of offline Whisper's WER (README: Accuracy on real speech), as the Python SDK does.
    s.config.set_segmentation(asr::v1::SEGMENTATION_ACCURATE);
  } else if (!segmentation.empty()) {
    throw UsageError("--segmentation takes live or accurate, not \"" + segmentation + "\"");
  }
  s.config.set_language(flags.Get("language"));
  s.config.set_engine(flags.Get("engine"));
  s.config.set_model(flags.Get("model"));
  s.config.set_task(flags.Has("translate") ? asr::v1::TASK_TRANSLATE : asr::v1::TASK_TRANSCRIBE);
  s.config.set_interim_results(!flags.Has("no-interim"));
  return s;
}

// Finals (text or JSON lines) on stdout; partials on a status line overwritten on stderr when it is a terminal.
class Printer {
 public:
  Printer(bool json, bool verbose) : json_(json), verbose_(verbose), tty_(isatty(STDERR_FILENO) == 1) {}
  ~Printer() { Clear(); }

  void Print(const asr::v1::RecognizeResponse& response) {
    if (response.has_session_started() && verbose_) {
      const auto& s = response.session_started();
      std::cerr << "session " << s.session_id() << " on " << s.engine() << "/" << s.model() << "\n";
    } else if (response.has_result()) {
      const auto& r = response.result();
      if (json_) std::cout << ResultJson(r) << std::endl;
      if (!r.is_final()) return Status("[" + std::to_string(r.segment_id()) + "] " + r.text());
      Clear();
      std::string text = Trim(r.text());
      if (!json_ && !text.empty()) std::cout << text << std::endl;
    } else if (response.has_summary()) {
      Clear();
      transcript_ = response.summary().transcript();
      if (json_) std::cout << SummaryJson(response.summary()) << std::endl;
    }
  }

  const std::string& transcript() const { return transcript_; }

 private:
  static std::string Trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\n");
    return first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(" \t\n") - first + 1);
  }
  void Status(const std::string& text) {
    if (!tty_) return;
    std::cerr << "\r\x1b[K" << Trim(text) << std::flush;
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::cerr << "\r\x1b[K" << std::flush;
    shown_ = false;
  }
  bool json_, verbose_, tty_, shown_ = false;
  std::string transcript_;
};

// Sends the config, then the audio (paced at the speed of speech with `realtime`), then half-closes.
// Stops at the first failed write: the call is over and Finish() reports its status.
void Send(grpc::ClientReaderWriter<asr::v1::RecognizeRequest, asr::v1::RecognizeResponse>& stream,
          const asr::v1::StreamingConfig& config, AudioSource& audio, const Settings& s) {
  asr::v1::RecognizeRequest request;
  *request.mutable_config() = config;
  if (!stream.Write(request)) return;
  const AudioFormat& format = audio.format();
  const std::size_t chunk_bytes =
      static_cast<std::size_t>(std::max(1, format.sample_rate * s.chunk_ms / 1000) * format.FrameBytes());
  const double bytes_per_second = static_cast<double>(format.sample_rate) * format.FrameBytes();
  const auto started = std::chrono::steady_clock::now();
  std::size_t sent = 0;
  std::string chunk;
  while (audio.Next(chunk, chunk_bytes)) {
    if (s.realtime) {
      std::this_thread::sleep_until(started + std::chrono::duration<double>(sent / bytes_per_second));
    }
    request.set_audio(chunk);
    if (!stream.Write(request)) return;
    sent += chunk.size();
  }
  stream.WritesDone();
}

int Run(const Settings& s) {
  AudioSource audio(s.file, s.raw);  // a bad file fails here, before any connection
  asr::v1::StreamingConfig config = s.config;
  config.set_encoding(audio.format().encoding);
  config.set_sample_rate_hertz(audio.format().sample_rate);
  config.set_audio_channel_count(audio.format().channels);
  auto stub = Connect(s.connection);
  grpc::ClientContext context;
  PrepareCall(context, s.connection);
  auto stream = stub->Recognize(&context);
  Printer printer(s.json, s.verbose);
  std::thread writer([&] { Send(*stream, config, audio, s); });
  asr::v1::RecognizeResponse response;
  while (stream->Read(&response)) printer.Print(response);
  // The call is over: the writer's next write fails and it returns, within one chunk of audio (a pipe
  // that stalls without closing holds it until its next chunk).
  writer.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return Report(FromStatus(status), s.connection.server);
  if (printer.transcript().empty()) std::cerr << "warning: no speech recognized in " << s.file << "\n";
  return kExitOk;
}
}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  try {
    settings = Parse(argc, argv);
  } catch (const UsageError& error) {
    if (*error.what() == '\0') {
      std::cout << kUsage;
      return kExitOk;
    }
    std::cerr << "error: " << error.what() << "\n(transcribe --help lists the flags)\n";
    return kExitUsage;
  }
  try {
    return Run(settings);
  } catch (const AudioFormatError& error) {
    std::cerr << "error: " << error.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& error) {
    std::cerr << "error: unexpected failure: " << error.what() << "\n";
    return kExitFailure;
  }
}
