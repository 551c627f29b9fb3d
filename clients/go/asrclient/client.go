// Package asrclient is a small client for asr.v1.RecognizerService on the generated stubs (clients/go/gen).
//
//	client, err := asrclient.Dial("localhost:50051", asrclient.Options{APIKey: key, CA: "ca.pem"})
//	defer client.Close()
//	err = client.Recognize(ctx, config, audio.Chunks(100, false), func(r *asrv1.RecognizeResponse) { ... })
//
// A failed call returns a *RecognizerError with the status code, the server's field violations and
// its retry delay.
package asrclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	asrv1 "asr-gateway/clients/go/gen/asr/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
)

// DefaultServer is used when neither -server nor $ASR_SERVER names one.
const DefaultServer = "localhost:50051"

const (
	messageLimitBytes   = 16 * 1024 * 1024
	listEnginesDeadline = 30 * time.Second
	// round robin over every address the target resolves to, as the Python SDK (clients/targets.py)
	serviceConfig = `{"loadBalancingConfig": [{"round_robin": {}}]}`
)

// Options say how to connect; the zero value is plaintext, no key, no deadline.
type Options struct {
	TLS     bool          // TLS trusting the system's CAs (implied by CA)
	CA      string        // PEM file of the CA to trust
	APIKey  string        // sent as `authorization: Bearer KEY` on every call
	Timeout time.Duration // deadline of each call; 0 = none for streams, 30 s for ListEngines
}

// Client is one channel to the cores; calls may run concurrently on it.
type Client struct {
	Address string
	options Options
	conn    *grpc.ClientConn
	stub    asrv1.RecognizerServiceClient
}

// DefaultAddress is $ASR_SERVER, else localhost:50051.
func DefaultAddress() string {
	if address := os.Getenv("ASR_SERVER"); address != "" {
		return address
	}
	return DefaultServer
}

// Dial opens a channel to the gRPC target address (HOST:PORT, dns:///HOST:PORT). It does
// not wait for a connection: a call to a server that is not there fails with Unreachable.
func Dial(address string, options Options) (*Client, error) {
	transport := grpc.WithInsecure()
	if options.TLS || options.CA != "" {
		config := &tls.Config{MinVersion: tls.VersionTLS12} // nil RootCAs = the system's
		if options.CA != "" {
			pem, err := os.ReadFile(options.CA)
			if err != nil {
				return nil, fmt.Errorf("cannot read the CA file %s: %w", options.CA, err)
			}
			config.RootCAs = x509.NewCertPool()
			if !config.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no PEM certificate in the CA file %s", options.CA)
			}
		}
		transport = grpc.WithTransportCredentials(credentials.NewTLS(config))
	}
	conn, err := grpc.Dial(address, transport,
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(messageLimitBytes), grpc.MaxCallSendMsgSize(messageLimitBytes)))
	if err != nil {
		return nil, fmt.Errorf("bad server address %q: %w", address, err)
	}
	return &Client{Address: address, options: options, conn: conn, stub: asrv1.NewRecognizerServiceClient(conn)}, nil
}

// Close closes the channel.
func (c *Client) Close() error { return c.conn.Close() }

// callContext adds the API key and the deadline (fallback when Options.Timeout is 0; 0 = none).
func (c *Client) callContext(ctx context.Context, fallback time.Duration) (context.Context, context.CancelFunc) {
	if c.options.APIKey != "" {
		// Call metadata rather than call credentials: the key goes on plaintext channels too (a trusted
		// network), as with the Python SDK; use TLS whenever the server is not on this machine.
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.options.APIKey)
	}
	timeout := c.options.Timeout
	if timeout == 0 {
		timeout = fallback
	}
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}

// ListEngines reports the server's engines, models and capabilities.
func (c *Client) ListEngines(ctx context.Context) (*asrv1.ListEnginesResponse, error) {
	ctx, cancel := c.callContext(ctx, listEnginesDeadline)
	defer cancel()
	reply, err := c.stub.ListEngines(ctx, &asrv1.ListEnginesRequest{})
	if err != nil {
		return nil, fromStatusError(err, c.Address)
	}
	return reply, nil
}

// Recognize runs one Recognize call: it sends config, then every chunk of audio, then half-closes,
// and calls onEvent with each response in order until the server ends the call. An error from audio
// cancels the call and is returned as it is; a failed call returns a *RecognizerError.
func (c *Client) Recognize(ctx context.Context, config *asrv1.StreamingConfig, audio ChunkSource,
	onEvent func(*asrv1.RecognizeResponse)) error {
	ctx, cancel := c.callContext(ctx, 0)
	defer cancel()
	stream, err := c.stub.Recognize(ctx)
	if err != nil {
		return fromStatusError(err, c.Address)
	}
	sourceFailed := make(chan error, 1)
	go func() {
		if err := send(ctx, stream, config, audio); err != nil {
			sourceFailed <- err // before cancel: the reader below sees it when its Recv fails
			cancel()
		}
	}()
	for {
		response, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			select {
			case source := <-sourceFailed:
				return source
			default:
				return fromStatusError(err, c.Address)
			}
		}
		onEvent(response)
	}
}

// send writes the client's half of the call; an error is the audio source's, never the call's (a
// failed Send means the call has ended: Recv reports its status).
func send(ctx context.Context, stream asrv1.RecognizerService_RecognizeClient, config *asrv1.StreamingConfig,
	audio ChunkSource) error {
	if stream.Send(&asrv1.RecognizeRequest{Request: &asrv1.RecognizeRequest_Config{Config: config}}) != nil {
		return nil
	}
	for {
		chunk, err := audio.NextChunk(ctx)
		if errors.Is(err, io.EOF) {
			stream.CloseSend()
			return nil
		}
		if ctx.Err() != nil {
			return nil // the call is over (ended, cancelled or past its deadline)
		}
		if err != nil {
			return err
		}
		if stream.Send(&asrv1.RecognizeRequest{Request: &asrv1.RecognizeRequest_Audio{Audio: chunk}}) != nil {
			return nil
		}
	}
}
