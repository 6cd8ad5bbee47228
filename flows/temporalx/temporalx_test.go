package temporalx_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/temporalx"
)

func testKeyring(t *testing.T) *codec.Keyring {
	t.Helper()
	b := make([]byte, codec.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := codec.ParseKeys("test:" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keyflow-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestClientOptions(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ring := testKeyring(t)

	tests := []struct {
		name    string
		cfg     temporalx.Config
		wantErr string
		check   func(t *testing.T, o client.Options)
	}{
		{
			name:    "keyring is mandatory",
			cfg:     temporalx.Config{Address: "127.0.0.1:7233"},
			wantErr: "Keyring is required",
		},
		{
			name: "zero values get defaults and the codec",
			cfg:  temporalx.Config{Keyring: ring},
			check: func(t *testing.T, o client.Options) {
				if o.HostPort != client.DefaultHostPort || o.Namespace != client.DefaultNamespace {
					t.Errorf("HostPort/Namespace = %q/%q", o.HostPort, o.Namespace)
				}
				if _, ok := o.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
					t.Errorf("GrpcCompression = %T, want none (payloads are ciphertext)", o.ConnectionOptions.GrpcCompression)
				}
				if o.DataConverter == nil || o.FailureConverter == nil || o.Logger == nil {
					t.Errorf("converters or logger not installed")
				}
				p, err := o.DataConverter.ToPayload("x")
				if err != nil || string(p.Metadata["encoding"]) != codec.MetadataEncodingEncrypted {
					t.Errorf("data converter does not encrypt: %v %v", p, err)
				}
				if o.ConnectionOptions.TLS != nil || o.Credentials != nil || o.MetricsHandler != nil {
					t.Errorf("plain config got TLS, credentials or metrics")
				}
			},
		},
		{
			name: "mTLS with CA and server name",
			cfg: temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{
				CAFile: certFile, CertFile: certFile, KeyFile: keyFile, ServerName: "temporal.internal",
			}},
			check: func(t *testing.T, o client.Options) {
				tc := o.ConnectionOptions.TLS
				if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "temporal.internal" || tc.InsecureSkipVerify {
					t.Errorf("TLS config = %+v", tc)
				}
			},
		},
		{
			name:    "cert without key",
			cfg:     temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{CertFile: certFile}},
			wantErr: "KeyFile is empty",
		},
		{
			name:    "key without cert",
			cfg:     temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{KeyFile: keyFile}},
			wantErr: "CertFile is empty",
		},
		{
			name:    "CA file without certificates",
			cfg:     temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{CAFile: notPEM}},
			wantErr: "holds no PEM certificate",
		},
		{
			name:    "missing CA file",
			cfg:     temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}},
			wantErr: "read TLS CA file",
		},
		{
			name:    "mismatched cert and key",
			cfg:     temporalx.Config{Keyring: ring, TLS: &temporalx.TLSConfig{CertFile: certFile, KeyFile: notPEM}},
			wantErr: "load TLS client certificate",
		},
		{
			name: "API key sets credentials; metrics registerer sets handler",
			cfg:  temporalx.Config{Keyring: ring, APIKey: "sekrit", MetricsRegisterer: prometheus.NewRegistry()},
			check: func(t *testing.T, o client.Options) {
				if o.Credentials == nil || o.MetricsHandler == nil {
					t.Errorf("Credentials %v MetricsHandler %v", o.Credentials, o.MetricsHandler)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.cfg.ClientOptions()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClientOptions: %v", err)
			}
			tt.check(t, o)
		})
	}
}

func TestDialWithoutKeyringFails(t *testing.T) {
	_, err := temporalx.Dial(context.Background(), temporalx.Config{Address: "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "Keyring is required") {
		t.Fatalf("err = %v, want keyring error", err)
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	var logs bytes.Buffer
	_, err := temporalx.Config{
		Keyring: testKeyring(t),
		TLS:     &temporalx.TLSConfig{InsecureSkipVerify: true},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	}.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "verification is disabled") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
}

func TestConfigLogValueHidesAPIKey(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := temporalx.Config{Address: "t:7233", APIKey: "very-secret-api-key", Keyring: testKeyring(t)}
	logger.Info("dialing", "temporal", cfg)
	if strings.Contains(logs.String(), "very-secret-api-key") {
		t.Fatalf("API key logged: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"api_key":true`) || !strings.Contains(logs.String(), "t:7233") {
		t.Fatalf("log lacks the non-secret fields: %s", logs.String())
	}
}

func TestWorkerOptions(t *testing.T) {
	o := temporalx.WorkerOptions()
	if o.StickyScheduleToStartTimeout != time.Second {
		t.Errorf("StickyScheduleToStartTimeout = %v, want 1s", o.StickyScheduleToStartTimeout)
	}
	if o.WorkerStopTimeout < 5*time.Second || o.WorkerStopTimeout > 30*time.Second {
		t.Errorf("WorkerStopTimeout = %v, want a graceful stop of ~10s", o.WorkerStopTimeout)
	}
	if !o.DisableRegistrationAliasing {
		t.Error("DisableRegistrationAliasing is off")
	}
	// Each call returns a fresh value, so callers may modify theirs.
	o.WorkerStopTimeout = 0
	if temporalx.WorkerOptions().WorkerStopTimeout == 0 {
		t.Error("WorkerOptions returned shared state")
	}
}
