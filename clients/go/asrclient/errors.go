package asrclient

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FieldViolation is one thing wrong with the request (google.rpc.BadRequest).
type FieldViolation struct {
	Field       string
	Description string
}

// RecognizerError is a call that ended with a non-OK status, with the google.rpc details the core
// attaches parsed out.
type RecognizerError struct {
	Code            codes.Code
	Message         string
	Address         string
	RetryAfter      *time.Duration // the server says the call may succeed after this (RetryInfo)
	FieldViolations []FieldViolation
	Reason          string // ErrorInfo.reason, e.g. ENGINE_UNAVAILABLE
	// Unreachable: nothing answered at Address (no server, wrong port, TLS mismatch): a bare
	// UNAVAILABLE, since the core always attaches details to its own.
	Unreachable bool
}

func (e *RecognizerError) Error() string {
	if e.Unreachable {
		return fmt.Sprintf("cannot reach the ASR server at %s: %s\nStart it with `make run`, or point to a running "+
			"one with -server HOST:PORT or the ASR_SERVER environment variable.", e.Address, e.Message)
	}
	lines := []string{fmt.Sprintf("%s: %s", codeName(e.Code), e.Message)}
	for _, v := range e.FieldViolations {
		if v.Description == e.Message {
			lines = append(lines, "  field: "+v.Field)
		} else {
			lines = append(lines, fmt.Sprintf("  %s: %s", v.Field, v.Description))
		}
	}
	return strings.Join(lines, "\n")
}

// codeName is the status code as gRPC's other languages spell it (UNAUTHENTICATED, not Unauthenticated).
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
		codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
		codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if name, ok := names[c]; ok {
		return name
	}
	return c.String()
}

// CodeName is the error's status code in upper snake case, as the other clients print it.
func (e *RecognizerError) CodeName() string { return codeName(e.Code) }

func fromStatusError(err error, address string) *RecognizerError {
	st, _ := status.FromError(err)
	out := &RecognizerError{Code: st.Code(), Message: st.Message(), Address: address}
	details := st.Details()
	for _, detail := range details {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.FieldViolations = append(out.FieldViolations, FieldViolation{v.GetField(), v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			delay := d.GetRetryDelay().AsDuration()
			out.RetryAfter = &delay
		case *errdetails.ErrorInfo:
			out.Reason = d.GetReason()
		}
	}
	out.Unreachable = st.Code() == codes.Unavailable && len(details) == 0
	return out
}
