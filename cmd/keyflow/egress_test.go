package main

import (
	"net/netip"
	"testing"

	"github.com/spf13/pflag"
)

// TestOutboundPolicy: a process builds one egress policy from --outbound-allow and every
// consumer shares it; its refusals name the flag.
func TestOutboundPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		allowed bool
	}{
		{"production default refuses loopback", nil, false},
		{"make run allows loopback", []string{"--outbound-allow", "loopback"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			c.bindFlags(fs)
			if err := fs.Parse(append(tc.args, "--log-level", "error")); err != nil {
				t.Fatal(err)
			}
			if err := c.load(fs, envOf(nil)); err != nil {
				t.Fatal(err)
			}
			p := newProcess(&c)
			pol, err := p.outbound()
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := p.outbound(); again != pol {
				t.Errorf("a second policy was built")
			}
			err = pol.Check(netip.MustParseAddr("127.0.0.1"))
			if (err == nil) != tc.allowed {
				t.Errorf("loopback: %v, allowed want %v", err, tc.allowed)
			}
			want := "egress: 10.0.0.5 is a private address; allow it with --outbound-allow 10.0.0.0/8"
			if err := pol.Check(netip.MustParseAddr("10.0.0.5")); err == nil || err.Error() != want {
				t.Errorf("private: %v, want %s", err, want)
			}
		})
	}
}
