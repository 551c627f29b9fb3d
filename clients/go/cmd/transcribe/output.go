package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	asrv1 "asr-gateway/clients/go/gen/asr/v1"

	"google.golang.org/protobuf/types/known/durationpb"
)

// printer turns responses into output: finals (text or JSON lines) on stdout, partials on a status
// line overwritten on stderr when it is a terminal. The JSON lines have the Python CLI's field names.
type printer struct {
	asJSON, verbose bool
	statusShown     bool
	tty             bool
	transcript      string
}

func newPrinter(asJSON, verbose bool) *printer {
	info, err := os.Stderr.Stat()
	return &printer{asJSON: asJSON, verbose: verbose, tty: err == nil && info.Mode()&os.ModeCharDevice != 0}
}

type wordJSON struct {
	Word       string  `json:"word"`
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
}

type resultJSON struct {
	Type                string     `json:"type"`
	SegmentID           uint64     `json:"segment_id"`
	Text                string     `json:"text"`
	IsFinal             bool       `json:"is_final"`
	Start               float64    `json:"start"`
	End                 float64    `json:"end"`
	Stability           float64    `json:"stability"`
	Confidence          float64    `json:"confidence"`
	Words               []wordJSON `json:"words"`
	Language            string     `json:"language"`
	LanguageProbability float64    `json:"language_probability"`
	ProcessingTime      float64    `json:"processing_time"`
	Channel             int32      `json:"channel"`
}

type summaryJSON struct {
	Type           string  `json:"type"`
	AudioProcessed float64 `json:"audio_processed"`
	SegmentCount   uint32  `json:"segment_count"`
	Transcript     string  `json:"transcript"`
}

func seconds(d *durationpb.Duration) float64 {
	return math.Round(d.AsDuration().Seconds()*1e9) / 1e9
}

// f32 is a proto float32 as the decimal it was meant to be (0.815, not 0.8149999976158142).
func f32(x float32) float64 { return math.Round(float64(x)*1e6) / 1e6 }

func (p *printer) print(response *asrv1.RecognizeResponse) {
	switch m := response.Response.(type) {
	case *asrv1.RecognizeResponse_SessionStarted:
		if p.verbose {
			s := m.SessionStarted
			fmt.Fprintf(os.Stderr, "session %s on %s/%s\n", s.GetSessionId(), s.GetEngine(), s.GetModel())
		}
	case *asrv1.RecognizeResponse_Result:
		p.result(m.Result)
	case *asrv1.RecognizeResponse_Summary:
		s := m.Summary
		p.clear()
		p.transcript = s.GetTranscript()
		if p.asJSON {
			p.line(summaryJSON{"summary", seconds(s.GetAudioProcessed()), s.GetSegmentCount(), s.GetTranscript()})
		}
		if p.verbose {
			fmt.Fprintf(os.Stderr, "%.1f s of audio, %d segments\n", seconds(s.GetAudioProcessed()), s.GetSegmentCount())
		}
	}
}

func (p *printer) result(r *asrv1.RecognitionResult) {
	if p.asJSON {
		words := []wordJSON{}
		for _, w := range r.GetWords() {
			words = append(words, wordJSON{w.GetWord(), seconds(w.GetStartOffset()), seconds(w.GetEndOffset()), f32(w.GetConfidence())})
		}
		p.line(resultJSON{"result", r.GetSegmentId(), r.GetText(), r.GetIsFinal(), seconds(r.GetStartOffset()),
			seconds(r.GetEndOffset()), f32(r.GetStability()), f32(r.GetConfidence()), words, r.GetLanguage(),
			f32(r.GetLanguageProbability()), seconds(r.GetProcessingTime()), r.GetChannelTag()})
	}
	text := strings.TrimSpace(r.GetText())
	if !r.GetIsFinal() {
		p.status(fmt.Sprintf("[%d] %s", r.GetSegmentId(), text))
		return
	}
	p.clear()
	if !p.asJSON && text != "" {
		fmt.Println(text)
	}
}

func (p *printer) line(v interface{}) {
	encoded, err := json.Marshal(v)
	if err != nil { // plain structs of strings and numbers: cannot happen
		panic(err)
	}
	fmt.Println(string(encoded))
}

func (p *printer) status(text string) {
	if !p.tty {
		return
	}
	fmt.Fprint(os.Stderr, "\r\x1b[K"+strings.Join(strings.Fields(text), " "))
	p.statusShown = true
}

func (p *printer) clear() {
	if p.statusShown {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
		p.statusShown = false
	}
}

func (p *printer) close() { p.clear() }
