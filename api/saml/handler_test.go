package saml

import (
	"testing"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
)

func TestNewValidatesConfig(t *testing.T) {
	e := newEnv(t)
	good := Config{Store: e.st, Logins: e.logins, BaseURL: "https://idp.example.com", KEKs: []jwtkeys.KEK{testKEK}}
	if _, err := New(good); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no store", func(c *Config) { c.Store = nil }},
		{"no logins", func(c *Config) { c.Logins = nil }},
		{"relative base URL", func(c *Config) { c.BaseURL = "/idp" }},
		{"base URL with query", func(c *Config) { c.BaseURL = "https://idp.example.com/?x=1" }},
		{"no KEK", func(c *Config) { c.KEKs = nil }},
		{"short KEK", func(c *Config) { c.KEKs = []jwtkeys.KEK{{ID: "k", Key: []byte("short")}} }},
		{"short persistent-id key", func(c *Config) { c.PersistentIDKey = []byte("short") }},
		{"negative lifetime", func(c *Config) { c.AssertionLifetime = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}
