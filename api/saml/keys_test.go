package saml

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store/storetest"
)

// TestKeysGeneratedOnFirstUse: a tenant without a key gets one, stored sealed; another process
// (a new key manager) loads the same one; a wrong KEK cannot.
func TestKeysGeneratedOnFirstUse(t *testing.T) {
	st := storetest.New(t)
	ctx := t.Context()
	org, err := st.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(kek jwtkeys.KEK) *keys {
		return &keys{store: st, keks: []jwtkeys.KEK{kek}, now: time.Now, byOrg: map[string]*signingKey{}}
	}
	k1, err := mk(testKEK).get(ctx, org.ID, "https://idp.example.com/samlsso/metadata")
	if err != nil {
		t.Fatal(err)
	}
	if k1.key.N.BitLen() != rsaBits || k1.cert.Subject.CommonName != "https://idp.example.com/samlsso/metadata" ||
		!k1.cert.NotAfter.After(time.Now().Add(365*24*time.Hour)) {
		t.Errorf("generated %d-bit key, certificate %s until %s", k1.key.N.BitLen(), k1.cert.Subject, k1.cert.NotAfter)
	}
	row, err := st.SAMLSigningKey(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.KEKID != testKEK.ID || bytes.Contains(row.PrivateKey, k1.key.D.Bytes()[:16]) {
		t.Error("private key not sealed with the KEK")
	}
	k2, err := mk(testKEK).get(ctx, org.ID, "ignored")
	if err != nil || !k2.cert.Equal(k1.cert) || !k2.key.Equal(k1.key) {
		t.Fatalf("second manager loaded another key (%v)", err)
	}
	other := jwtkeys.KEK{ID: testKEK.ID, Key: bytes.Repeat([]byte{9}, 32)}
	if _, err := mk(other).get(ctx, org.ID, ""); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("wrong KEK: %v", err)
	}
	// A sealed key does not open for another organization (the row cannot be moved).
	if _, err := open(testKEK, "another-org", row.PrivateKey); err == nil {
		t.Error("sealed key opened for another organization")
	}
	if _, err := mk(jwtkeys.KEK{ID: "unknown", Key: testKEK.Key}).get(ctx, org.ID, ""); err == nil {
		t.Error("key sealed with an unconfigured KEK id loaded")
	}
}

// TestSigningKeyShared: SigningKey hands other front-ends (WS-Federation) the key the IdP signs
// with; an unknown organization gets none.
func TestSigningKeyShared(t *testing.T) {
	e := newEnv(t)
	key, cert := readKeyPair(t, "idp")
	gotKey, gotCert, err := e.h.SigningKey(t.Context(), e.org.ID, e.org.Handle)
	if err != nil || !gotKey.Equal(key) || !gotCert.Equal(cert) {
		t.Errorf("SigningKey = %v, %v, %v; want the IdP's key", gotKey != nil, gotCert != nil, err)
	}
	if _, _, err := e.h.SigningKey(t.Context(), "6f1d3c0a-0000-4000-8000-000000000000", "nowhere"); err == nil {
		t.Error("a key for an unknown organization")
	}
}
