package apps

import (
	"bytes"
	"testing"
)

// TestSealerBinding: a sealed pending secret opens only for its application and client, and
// only under the pepper it was sealed with.
func TestSealerBinding(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal("app-1", "client-1", "the-secret")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("the-secret")) {
		t.Fatal("the secret is in the clear")
	}
	if got, err := s.open("app-1", "client-1", sealed); err != nil || got != "the-secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	other, err := newSealer(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		s           sealer
		app, client string
		sealed      []byte
	}{
		{"other application", s, "app-2", "client-1", sealed},
		{"other client", s, "app-1", "client-2", sealed},
		{"other pepper", other, "app-1", "client-1", sealed},
		{"truncated", s, "app-1", "client-1", sealed[:5]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, err := c.s.open(c.app, c.client, c.sealed); err == nil {
				t.Errorf("opened as %q", got)
			}
		})
	}
}
