// Command transcribe streams a WAV or raw PCM file (or standard input) to the asr.v1 server and
// prints the transcript: one final per line on stdout, or JSON lines (partials included) with -json.
// Everything else goes to stderr.
//
// Exit codes as the Python CLI: 0 ok · 1 unexpected failure · 2 bad usage or unreadable audio ·
// 3 server unreachable · 4 the server refused or failed the call · 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"asr-gateway/clients/go/asrclient"
	asrv1 "asr-gateway/clients/go/gen/asr/v1"
)

const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitRejected    = 4
	exitInterrupted = 130
)

type settings struct {
	server, ca, apiKey, language, engine, model, segmentation, encoding string
	tls, realtime, raw, translate, noInterim, json, verbose             bool
	timeout                                                             time.Duration
	chunkMs, rate, channels                                             int
	file                                                                string
}

// secondsFlag is a duration given in seconds ("90", "2.5"), as the other CLIs take it, or as a Go duration ("2m").
type secondsFlag time.Duration

func (f *secondsFlag) String() string { return time.Duration(*f).String() }

func (f *secondsFlag) Set(text string) error {
	if value, err := strconv.ParseFloat(text, 64); err == nil && value > 0 {
		*f = secondsFlag(value * float64(time.Second))
		return nil
	}
	if value, err := time.ParseDuration(text); err == nil && value > 0 {
		*f = secondsFlag(value)
		return nil
	}
	return fmt.Errorf("want a positive number of seconds, not %q", text)
}

type usageError struct{ message string }

func (e *usageError) Error() string { return e.message }

func parse(args []string) (*settings, error) {
	s := &settings{}
	fs := flag.NewFlagSet("transcribe", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: transcribe [flags] FILE|-\n\nStream a WAV file, raw PCM (-raw) or "+
			"standard input (-) to the asr.v1 server; finals on stdout.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&s.server, "server", asrclient.DefaultAddress(), "gRPC target: HOST:PORT or dns:///HOST:PORT (default: $ASR_SERVER or localhost:50051)")
	fs.BoolVar(&s.tls, "tls", false, "connect over TLS, trusting the system's CAs")
	fs.StringVar(&s.ca, "ca", "", "connect over TLS, trusting this CA `PEM` file (implies -tls)")
	fs.StringVar(&s.apiKey, "api-key", os.Getenv("ASR_API_KEY"), "API `KEY` sent as `authorization: Bearer KEY` (default: $ASR_API_KEY)")
	fs.Var((*secondsFlag)(&s.timeout), "timeout", "deadline for the whole call in `SECONDS` (or a Go duration: 2m) (default: none)")
	fs.BoolVar(&s.realtime, "realtime", false, "send audio at the speed of speech, like a microphone")
	fs.IntVar(&s.chunkMs, "chunk-ms", 100, "audio per message in milliseconds")
	fs.BoolVar(&s.raw, "raw", false, "the input is headerless PCM: give -rate, -channels, -encoding")
	fs.IntVar(&s.rate, "rate", 16000, "sample rate of -raw input in Hz")
	fs.IntVar(&s.channels, "channels", 1, "channels of -raw input")
	fs.StringVar(&s.encoding, "encoding", "linear16", "sample format of -raw input: linear16, float32 or int32 (little-endian)")
	fs.StringVar(&s.language, "language", "", "BCP-47 tag such as en-US (default: detect)")
	fs.StringVar(&s.engine, "engine", "", "engine name or alias (default: the server's)")
	fs.StringVar(&s.model, "model", "", "model name or alias (default: the engine's)")
	fs.BoolVar(&s.translate, "translate", false, "English text from any language")
	fs.StringVar(&s.segmentation, "segmentation", "", "live or accurate (default: accurate, or the server's with -realtime)")
	fs.BoolVar(&s.noInterim, "no-interim", false, "do not ask for partial results")
	fs.BoolVar(&s.json, "json", false, "one JSON object per result (partials and finals) and a summary on stdout")
	fs.BoolVar(&s.verbose, "v", false, "log to stderr")
	// flags may come after FILE too (`transcribe FILE -server HOST:PORT`), as in the Node and Python CLIs
	var files []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, err
		} else if err != nil {
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) != 1 {
		return nil, &usageError{"give one audio file, or - for standard input"}
	}
	s.file = files[0]
	if s.segmentation != "" && s.segmentation != "live" && s.segmentation != "accurate" {
		return nil, &usageError{fmt.Sprintf("-segmentation takes live or accurate, not %q", s.segmentation)}
	}
	if s.chunkMs <= 0 {
		return nil, &usageError{"-chunk-ms takes a positive number"}
	}
	return s, nil
}

func (s *settings) rawFormat() (*asrclient.Format, error) {
	if !s.raw {
		return nil, nil
	}
	encodings := map[string]asrv1.AudioEncoding{
		"linear16": asrv1.AudioEncoding_AUDIO_ENCODING_LINEAR16,
		"float32":  asrv1.AudioEncoding_AUDIO_ENCODING_FLOAT32,
		"int32":    asrv1.AudioEncoding_AUDIO_ENCODING_INT32,
	}
	encoding, ok := encodings[s.encoding]
	if !ok {
		return nil, &usageError{fmt.Sprintf("-encoding takes linear16, float32 or int32, not %q", s.encoding)}
	}
	return &asrclient.Format{Encoding: encoding, SampleRate: s.rate, Channels: s.channels}, nil
}

func (s *settings) config(format asrclient.Format) *asrv1.StreamingConfig {
	task := asrv1.Task_TASK_TRANSCRIBE
	if s.translate {
		task = asrv1.Task_TASK_TRANSLATE
	}
	// A file sent as fast as possible is transcribed for the record: accurate segmentation, within a
	// point of offline Whisper's WER (README: Accuracy on real speech), as the Python SDK does.
	segmentation := map[string]asrv1.Segmentation{
		"live": asrv1.Segmentation_SEGMENTATION_LIVE, "accurate": asrv1.Segmentation_SEGMENTATION_ACCURATE,
	}[s.segmentation]
	if s.segmentation == "" && !s.realtime {
		segmentation = asrv1.Segmentation_SEGMENTATION_ACCURATE
	}
	return &asrv1.StreamingConfig{
		Engine: s.engine, Model: s.model, Language: s.language, Task: task,
		Encoding: format.Encoding, SampleRateHertz: int32(format.SampleRate), AudioChannelCount: int32(format.Channels),
		InterimResults: !s.noInterim, Segmentation: segmentation,
	}
}

func run(ctx context.Context, args []string) error {
	s, err := parse(args)
	if err != nil {
		return err
	}
	raw, err := s.rawFormat()
	if err != nil {
		return err
	}
	audio, err := asrclient.OpenAudio(s.file, raw) // a bad file fails here, before any connection
	if err != nil {
		return err
	}
	defer audio.Close()
	client, err := asrclient.Dial(s.server, asrclient.Options{TLS: s.tls, CA: s.ca, APIKey: s.apiKey, Timeout: s.timeout})
	if err != nil {
		return &usageError{err.Error()}
	}
	defer client.Close()
	out := newPrinter(s.json, s.verbose)
	defer out.close()
	if err := client.Recognize(ctx, s.config(audio.Format), audio.Chunks(s.chunkMs, s.realtime), out.print); err != nil {
		return err
	}
	if strings.TrimSpace(out.transcript) == "" {
		fmt.Fprintf(os.Stderr, "warning: no speech recognized in %s\n", s.file)
	}
	return nil
}

func hint(e *asrclient.RecognizerError) string {
	switch {
	case e.CodeName() == "UNAUTHENTICATED":
		return "\nThe server needs an API key: pass -api-key KEY or set ASR_API_KEY."
	case e.CodeName() == "DEADLINE_EXCEEDED":
		return "\nThe call took longer than -timeout allows; raise it or leave it out."
	case e.RetryAfter != nil:
		return fmt.Sprintf("\nThe server is busy; try again in %g s.", e.RetryAfter.Seconds())
	}
	return ""
}

func exitCode(err error) int {
	var usage *usageError
	var audio *asrclient.AudioFormatError
	var refused *asrclient.RecognizerError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "error: %v\n(transcribe -h lists the flags)\n", err)
		return exitUsage
	case errors.As(err, &audio):
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return exitUsage
	case errors.As(err, &refused) && refused.Unreachable:
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return exitUnreachable
	case errors.As(err, &refused):
		verb := "refused"
		switch refused.CodeName() {
		case "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "DATA_LOSS":
			verb = "failed"
		}
		fmt.Fprintf(os.Stderr, "error: the server at %s %s the request: %v%s\n", refused.Address, verb, err, hint(refused))
		return exitRejected
	}
	fmt.Fprintf(os.Stderr, "error: unexpected failure: %v\n", err)
	return exitFailure
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "error: interrupted")
		os.Exit(exitInterrupted)
	}
	code := exitCode(err)
	stop()
	os.Exit(code)
}
