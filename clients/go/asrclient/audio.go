package asrclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	asrv1 "asr-gateway/clients/go/gen/asr/v1"
)

// Format is the sample format of the audio sent; the server resamples and downmixes.
type Format struct {
	Encoding   asrv1.AudioEncoding // LINEAR16, FLOAT32 or INT32, little-endian
	SampleRate int                 // 8000..48000 Hz
	Channels   int                 // 1..8
}

// FrameBytes is the size of one sample of every channel.
func (f Format) FrameBytes() int {
	if f.Encoding == asrv1.AudioEncoding_AUDIO_ENCODING_FLOAT32 || f.Encoding == asrv1.AudioEncoding_AUDIO_ENCODING_INT32 {
		return 4 * f.Channels
	}
	return 2 * f.Channels
}

// AudioFormatError says why an audio file or stream cannot be sent (bad usage, not a server fault).
type AudioFormatError struct{ Message string }

func (e *AudioFormatError) Error() string { return e.Message }

func formatError(format string, args ...interface{}) error {
	return &AudioFormatError{fmt.Sprintf(format, args...)}
}

// Audio is an opened WAV or headerless PCM source: its format and its samples.
type Audio struct {
	Format Format
	name   string
	reader io.Reader // the samples only
	closer io.Closer
}

// OpenAudio opens path ("-" = standard input) as WAV, or as headerless PCM in raw's format when raw is not nil.
func OpenAudio(path string, raw *Format) (*Audio, error) {
	var file io.ReadCloser = os.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, formatError("no such file: %s", path)
		} else if err != nil {
			return nil, formatError("cannot read %s: %v", path, err)
		}
		file, name = f, path
	}
	buffered := bufio.NewReaderSize(file, 64*1024)
	audio := &Audio{name: name, reader: buffered, closer: file}
	if raw != nil {
		audio.Format = *raw
	} else if err := audio.readWavHeader(buffered); err != nil {
		file.Close()
		return nil, formatError("%s: %v", name, err)
	}
	if err := checkFormat(audio.Format); err != nil {
		file.Close()
		return nil, err
	}
	return audio, nil
}

// Close closes the underlying file.
func (a *Audio) Close() error { return a.closer.Close() }

func checkFormat(f Format) error {
	if f.SampleRate < 8000 || f.SampleRate > 48000 {
		return formatError("sample rate %d Hz is outside 8000..48000; resample it first", f.SampleRate)
	}
	if f.Channels < 1 || f.Channels > 8 {
		return formatError("%d channels; the server takes 1 to 8", f.Channels)
	}
	return nil
}

// readWavHeader reads the RIFF/WAVE chunks up to the start of the samples.
func (a *Audio) readWavHeader(r *bufio.Reader) error {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil || string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return errors.New("not a WAV file (no RIFF/WAVE header); for headerless audio pass -raw")
	}
	haveFormat := false
	for {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return errors.New("the WAV file ends before its data chunk")
		}
		id, size := string(head[0:4]), binary.LittleEndian.Uint32(head[4:8])
		switch {
		case id == "data":
			if !haveFormat {
				return errors.New("the WAV file has its data chunk before its fmt chunk")
			}
			// 0 and 0xFFFFFFFF are what recorders write when they stream before knowing the length.
			if size != 0 && size != 0xFFFFFFFF {
				a.reader = io.LimitReader(r, int64(size))
			}
			return nil
		case id == "fmt " && size >= 16:
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return errors.New("the WAV file ends inside its fmt chunk")
			}
			format, err := fmtChunk(body)
			if err != nil {
				return err
			}
			a.Format, haveFormat = format, true
			if size%2 == 1 {
				r.Discard(1)
			}
		default: // LIST, fact, ...: skipped, with their padding to an even length
			if _, err := r.Discard(int(size + size%2)); err != nil {
				return errors.New("the WAV file ends before its data chunk")
			}
		}
	}
}

func fmtChunk(body []byte) (Format, error) {
	tag := binary.LittleEndian.Uint16(body[0:2])
	bits := binary.LittleEndian.Uint16(body[14:16])
	if tag == 0xFFFE && len(body) >= 26 { // WAVE_FORMAT_EXTENSIBLE: the SubFormat GUID starts with the tag
		tag = binary.LittleEndian.Uint16(body[24:26])
	}
	format := Format{
		Channels:   int(binary.LittleEndian.Uint16(body[2:4])),
		SampleRate: int(binary.LittleEndian.Uint32(body[4:8])),
	}
	switch {
	case tag == 1 && bits == 16:
		format.Encoding = asrv1.AudioEncoding_AUDIO_ENCODING_LINEAR16
	case tag == 1 && bits == 32:
		format.Encoding = asrv1.AudioEncoding_AUDIO_ENCODING_INT32
	case tag == 3 && bits == 32:
		format.Encoding = asrv1.AudioEncoding_AUDIO_ENCODING_FLOAT32
	default:
		return format, fmt.Errorf("unsupported WAV sample format (format tag %d, %d bits); use 16- or 32-bit PCM "+
			"or 32-bit float, e.g. `ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav`", tag, bits)
	}
	return format, nil
}

// Chunks cuts the samples into chunkMs pieces of whole frames, released at the speed of speech
// with realtime (the pacing waits end with ctx).
func (a *Audio) Chunks(chunkMs int, realtime bool) ChunkSource {
	frame := a.Format.FrameBytes()
	samples := a.Format.SampleRate * chunkMs / 1000
	if samples < 1 {
		samples = 1
	}
	return &chunker{audio: a, size: samples * frame, frame: frame, bytesPerSecond: a.Format.SampleRate * frame,
		realtime: realtime}
}

// ChunkSource gives the audio to send: NextChunk returns io.EOF after the last chunk.
type ChunkSource interface {
	NextChunk(ctx context.Context) ([]byte, error)
}

type chunker struct {
	audio          *Audio
	size, frame    int
	bytesPerSecond int
	realtime       bool
	started        time.Time
	sent           int
	done           bool
}

func (c *chunker) NextChunk(ctx context.Context) ([]byte, error) {
	if c.done {
		return nil, io.EOF
	}
	buf := make([]byte, c.size)
	n, err := io.ReadFull(c.audio.reader, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.done = true
		n -= n % c.frame // a trailing partial frame is dropped: the server takes whole frames only
		if n == 0 {
			return nil, io.EOF
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.audio.name, err)
	}
	if c.realtime {
		if c.started.IsZero() {
			c.started = time.Now()
		}
		due := c.started.Add(time.Duration(float64(c.sent) / float64(c.bytesPerSecond) * float64(time.Second)))
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.sent += n
	return buf[:n], nil
}
