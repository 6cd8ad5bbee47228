package temporalx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/keyflow/keyflow/flows/codec"
)

// Config says how to reach Temporal. The zero value of every field except
// Keyring is usable: it dials the local dev server's default namespace in
// plaintext, without metrics, logging through slog.Default().
type Config struct {
	// Address is the frontend host:port; "" means client.DefaultHostPort
	// (localhost:7233).
	Address string
	// Namespace; "" means "default".
	Namespace string
	// TLS enables TLS (and mTLS when a client certificate is given); nil
	// means plaintext, unless APIKey is set.
	TLS *TLSConfig
	// APIKey is sent as "Authorization: Bearer <key>" on every call (Temporal
	// Cloud API keys). With TLS nil, setting it turns TLS on with the system
	// roots, as the SDK does: a bearer token must not cross the wire in
	// clear. Never logged.
	APIKey string
	// Keyring encrypts every payload (see flows/codec). Required: Dial
	// refuses to connect without it, because an unencrypted client would
	// write passwords and one-time codes into history.
	Keyring *codec.Keyring
	// Logger receives the SDK's logs; nil means slog.Default().
	Logger *slog.Logger
	// MetricsRegisterer receives the SDK's metrics (NewMetricsHandler); nil
	// disables SDK metrics.
	MetricsRegisterer prometheus.Registerer
}

// TLSConfig is the file-based TLS configuration of a Temporal connection.
// Files are read once, at Dial; rotating a client certificate needs a
// restart.
type TLSConfig struct {
	// CAFile is a PEM bundle of roots trusted for the server certificate;
	// "" means the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (PEM) for mTLS;
	// both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server certificate (and
	// sent as SNI); "" means the host of Address.
	ServerName string
	// InsecureSkipVerify disables server certificate verification. For local
	// experiments only: it makes TLS useless against an active attacker, and
	// Dial logs a warning when it is set.
	InsecureSkipVerify bool
}

// LogValue implements slog.LogValuer so that logging a Config never prints
// the API key.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("address", c.Address),
		slog.String("namespace", c.Namespace),
		slog.Bool("tls", c.TLS != nil),
		slog.Bool("api_key", c.APIKey != ""),
		slog.Bool("metrics", c.MetricsRegisterer != nil),
	}
	if c.TLS != nil {
		attrs = append(attrs, slog.Bool("mtls", c.TLS.CertFile != ""))
	}
	if c.Keyring != nil {
		attrs = append(attrs, slog.String("payload_key", c.Keyring.ActiveKeyID()))
	}
	return slog.GroupValue(attrs...)
}

// ClientOptions validates c and returns the SDK options Dial uses, for the
// rare caller that needs to adjust them (add an interceptor, set Identity)
// before calling client.DialContext itself. The data and failure converters
// it sets are what keep secrets out of history: do not replace them.
func (c Config) ClientOptions() (client.Options, error) {
	if c.Keyring == nil {
		return client.Options{}, errors.New("temporalx: Config.Keyring is required: every Temporal payload must be encrypted (see flows/codec)")
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts := client.Options{
		HostPort:         c.Address,
		Namespace:        c.Namespace,
		Logger:           tlog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		DataConverter:    codec.DataConverter(c.Keyring),
		FailureConverter: codec.FailureConverter(c.Keyring),
	}
	// Every payload is AES-GCM ciphertext, which does not compress: the SDK's default gzip of
	// each request only costs CPU (about 2.5 % of a login's, docs/performance.md).
	opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	if c.TLS != nil {
		tc, err := c.TLS.build()
		if err != nil {
			return client.Options{}, err
		}
		if c.TLS.InsecureSkipVerify {
			logger.Warn("temporal TLS server certificate verification is disabled", "address", opts.HostPort)
		}
		opts.ConnectionOptions.TLS = tc
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	if c.MetricsRegisterer != nil {
		opts.MetricsHandler = NewMetricsHandler(c.MetricsRegisterer, logger)
	}
	return opts, nil
}

// Dial connects to Temporal with c: payload encryption (mandatory), the slog
// logger, TLS/mTLS, API key credentials and Prometheus metrics. It checks the
// connection with a round trip to the server, so an unreachable server or a
// missing namespace fails here rather than on first use. The caller owns the
// client and must Close it.
func Dial(ctx context.Context, c Config) (client.Client, error) {
	opts, err := c.ClientOptions()
	if err != nil {
		return nil, err
	}
	cl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporalx: dial %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
	}
	return cl, nil
}

func (t *TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, warned about in ClientOptions
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporalx: read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporalx: TLS CA file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporalx: load TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, errors.New("temporalx: TLS CertFile is set but KeyFile is empty; mTLS needs both")
	case t.KeyFile != "":
		return nil, errors.New("temporalx: TLS KeyFile is set but CertFile is empty; mTLS needs both")
	}
	return tc, nil
}
