package oauth2_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors/egress"
)

// TestPrivateKeyJWTRefusedJWKSURI: a client whose jwks_uri is at an address the outbound policy
// refuses (here loopback) cannot authenticate with private_key_jwt: invalid_client, and the
// document is never fetched. The same client authenticates once the policy allows the address.
func TestPrivateKeyJWTRefusedJWKSURI(t *testing.T) {
	signer, pub := ecKey(t, "k1")
	var fetches atomic.Int64
	set := jwksJSON(t, pub)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(keys.Close)

	for _, tc := range []struct {
		name   string
		allow  []string
		status int
	}{
		{"refused", nil, http.StatusUnauthorized},
		{"allowed", []string{"loopback"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow, err := egress.ParseAllow(tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := egress.New(egress.Config{Allow: allow, Setting: "--outbound-allow"})
			if err != nil {
				t.Fatal(err)
			}
			fetches.Store(0)
			logs := &lockedBuffer{}
			e := newEnv(t, func(c *op.Config) {
				c.HTTPClient = pol.Client(egress.ClientOptions{Timeout: op.JWKSFetchTimeout})
				c.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			id, _ := e.client(t, op.NewClient{TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKSURI: keys.URL})
			r := e.post(t, "/oauth2/token", assertionForm(signJWT(t, jose.ES256, signer, e.assertionClaims(id, e.srv.URL+"/oauth2/token"))), nil)
			if tc.status != http.StatusOK {
				wantError(t, r, tc.status, op.CodeInvalidClient)
				if n := fetches.Load(); n != 0 {
					t.Errorf("refused jwks_uri fetched %d times", n)
				}
				// The operator learns why from a warning.
				if l := logs.String(); !strings.Contains(l, "jwks_uri refused by the outbound address policy") ||
					!strings.Contains(l, "egress: 127.0.0.1 is a loopback address; allow it with --outbound-allow loopback") {
					t.Errorf("log:\n%s\nwant a warning naming the refused address", l)
				}
				return
			}
			if r.status != tc.status || fetches.Load() != 1 {
				t.Errorf("allowed: %d %s, %d fetches", r.status, r.body, fetches.Load())
			}
		})
	}
}

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
