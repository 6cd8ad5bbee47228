package store

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestPoolConfig(t *testing.T) {
	const base = "postgres://u:p@127.0.0.1:5432/db"
	defaultConns := int32(max(8, 4*runtime.GOMAXPROCS(0)))
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	tests := []struct {
		name        string
		url         string
		opts        options
		wantConns   int32
		wantTimeout string
		wantApp     string
	}{
		{name: "defaults", url: base, wantConns: defaultConns, wantTimeout: ms(DefaultStatementTimeout), wantApp: "keyflow"},
		{name: "options", url: base, opts: options{maxConns: 3, statementTimeout: 2 * time.Second},
			wantConns: 3, wantTimeout: "2000", wantApp: "keyflow"},
		{name: "URL settings kept", url: base + "?pool_max_conns=5&statement_timeout=7000&application_name=x",
			wantConns: 5, wantTimeout: "7000", wantApp: "x"},
		{name: "options win over URL", url: base + "?pool_max_conns=5&statement_timeout=7000",
			opts: options{maxConns: 2, statementTimeout: time.Second}, wantConns: 2, wantTimeout: "1000", wantApp: "keyflow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := poolConfig(tc.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.ConnConfig.RuntimeParams
			if cfg.MaxConns != tc.wantConns || p["statement_timeout"] != tc.wantTimeout || p["application_name"] != tc.wantApp {
				t.Errorf("MaxConns %d, statement_timeout %q, application_name %q; want %d, %q, %q",
					cfg.MaxConns, p["statement_timeout"], p["application_name"], tc.wantConns, tc.wantTimeout, tc.wantApp)
			}
			if p["idle_in_transaction_session_timeout"] == "" {
				t.Error("idle_in_transaction_session_timeout not set")
			}
		})
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "ASCII case", a: "Alice", b: "aLICE", same: true},
		{name: "Latin-1 case", a: "ÉLODIE", b: "élodie", same: true},
		{name: "sharp s", a: "Straße", b: "STRASSE", same: true},
		{name: "composed vs decomposed", a: "Jos\u00e9", b: "Jose\u0301", same: true},
		{name: "Greek final sigma", a: "ΟΔΟΣ", b: "οδος", same: true},
		{name: "different letters", a: "alice", b: "alicia", same: false},
		{name: "accent matters", a: "jose", b: "josé", same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nameKey(tc.a) == nameKey(tc.b); got != tc.same {
				t.Errorf("nameKey(%q) = %q, nameKey(%q) = %q; same = %v, want %v",
					tc.a, nameKey(tc.a), tc.b, nameKey(tc.b), got, tc.same)
			}
		})
	}
}
