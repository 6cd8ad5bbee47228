package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// envOf turns a map into the getenv run takes, so tests never touch the process environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestBadConfigExitsTwo(t *testing.T) {
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(yamlFile, []byte("log-format: xml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("http-adr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string // a fragment of stderr naming the setting
	}{
		{"flag value", []string{"migrate", "--log-format", "xml"}, nil, 2, "--log-format / KEYFLOW_LOG_FORMAT: \"xml\" is not allowed; use text or json"},
		{"env value", []string{"migrate"}, map[string]string{"KEYFLOW_HTTP_ADDR": "nonsense"}, 2, "--http-addr / KEYFLOW_HTTP_ADDR: \"nonsense\" is not host:port"},
		{"env type", []string{"migrate"}, map[string]string{"KEYFLOW_POSTGRES_PORT": "eighty"}, 2, "--postgres-port / KEYFLOW_POSTGRES_PORT: \"eighty\" is not a valid int"},
		{"port range", []string{"migrate", "--temporal-port", "70000"}, nil, 2, "--temporal-port / KEYFLOW_TEMPORAL_PORT: 70000 is not a port"},
		{"base url", []string{"migrate", "--base-url", "ftp://x"}, nil, 2, "--base-url / KEYFLOW_BASE_URL"},
		{"database url", []string{"migrate", "--database-url", "mysql://x"}, nil, 2, "--database-url / KEYFLOW_DATABASE_URL: must be a postgres://"},
		{"duration", []string{"migrate"}, map[string]string{"KEYFLOW_SHUTDOWN_TIMEOUT": "soon"}, 2, "\"soon\" is not a valid duration"},
		{"tls pair", []string{"migrate", "--temporal-tls-key", "/etc/hostname"}, nil, 2, "--temporal-tls-cert and --temporal-tls-key must be given together"},
		{"trusted proxy", []string{"migrate", "--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil, 2, "--trusted-proxies / KEYFLOW_TRUSTED_PROXIES: \"proxy.local\" is neither an IP nor a CIDR"},
		{"negative rate limit", []string{"migrate", "--rate-limit", "-1"}, nil, 2, "--rate-limit / KEYFLOW_RATE_LIMIT: must not be negative"},
		{"zero burst", []string{"migrate"}, map[string]string{"KEYFLOW_RATE_LIMIT_TOKEN_BURST": "0"}, 2, "--rate-limit-token-burst / KEYFLOW_RATE_LIMIT_TOKEN_BURST: must be at least 1"},
		{"outbound allow", []string{"migrate"}, map[string]string{"KEYFLOW_OUTBOUND_ALLOW": "loopback,intranet"}, 2, "--outbound-allow / KEYFLOW_OUTBOUND_ALLOW: \"intranet\" is neither loopback, private, a CIDR nor an IP address"},
		{"pprof off loopback", []string{"migrate", "--pprof-addr", "0.0.0.0:6060"}, nil, 2, "--pprof-addr / KEYFLOW_PPROF_ADDR: \"0.0.0.0:6060\" must be a loopback host:port"},
		{"yaml value", []string{"migrate", "--config", yamlFile}, nil, 2, "--log-format / KEYFLOW_LOG_FORMAT: \"xml\" is not allowed"},
		{"yaml unknown key", []string{"migrate"}, map[string]string{"KEYFLOW_CONFIG": unknownKey}, 2, "unknown keys in " + unknownKey + ": http-adr"},
		{"missing file", []string{"migrate", "--config", filepath.Join(dir, "none.yaml")}, nil, 2, "--config / KEYFLOW_CONFIG"},
		{"unknown flag", []string{"serve", "--no-such-flag"}, nil, 2, "unknown flag: --no-such-flag"},
		{"unknown command", []string{"frobnicate"}, nil, 2, "unknown command"},
		{"migrate needs a database", []string{"migrate"}, nil, 2, "--database-url / KEYFLOW_DATABASE_URL: required by migrate"},
		{"api needs a database", []string{"api", "--http-addr", "127.0.0.1:0"}, nil, 2, "--database-url / KEYFLOW_DATABASE_URL: required by this command"},
		{"flag beats env", []string{"migrate", "--log-format", "json"}, map[string]string{"KEYFLOW_LOG_FORMAT": "xml"}, 2, "required by migrate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, envOf(tc.env))
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

func TestSecretsNeverEchoed(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"migrate", "--admin-password", "short"}, &stdout, &stderr, envOf(nil))
	if code != 2 || !strings.Contains(stderr.String(), "--admin-password / KEYFLOW_ADMIN_PASSWORD: must be at least 8 characters") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	code = run(context.Background(), []string{"migrate"}, &stdout, &stderr, envOf(map[string]string{"KEYFLOW_CODEC_KEYS": "x", "KEYFLOW_DATABASE_URL": "mysql://user:s3cretpw@h"}))
	if code != 2 || strings.Contains(stderr.String(), "s3cretpw") {
		t.Fatalf("exit %d, secret echoed in %q", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr, envOf(nil)); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "keyflow ") {
		t.Fatalf("version printed %q", stdout.String())
	}
}

// TestOutboundAllow: --outbound-allow (or KEYFLOW_OUTBOUND_ALLOW, or the YAML key) fills the
// egress policy's allow-list; by default it is empty (public addresses only).
func TestOutboundAllow(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"default", nil, nil, nil},
		{"flag", []string{"--outbound-allow", "loopback,10.1.0.0/16"}, nil, []string{"127.0.0.0/8", "::1/128", "10.1.0.0/16"}},
		{"env", nil, map[string]string{"KEYFLOW_OUTBOUND_ALLOW": "169.254.169.254"}, []string{"169.254.169.254/32"}},
		{"flag beats env", []string{"--outbound-allow", "loopback"}, map[string]string{"KEYFLOW_OUTBOUND_ALLOW": "private"}, []string{"127.0.0.0/8", "::1/128"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			c.bindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := c.load(fs, envOf(tc.env)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range c.outboundAllow {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("allow %v, want %v", got, tc.want)
			}
		})
	}
}
