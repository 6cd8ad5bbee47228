package codec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/keyflow/keyflow/flows/codec"
)

// newKey returns a random AES-256 key in the base64 form ParseKeys takes.
func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, codec.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func mustKeys(t *testing.T, spec string) *codec.Keyring {
	t.Helper()
	k, err := codec.ParseKeys(spec)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

// secret returns a value that cannot appear in any payload by accident.
func secret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("hunter2-%x", b)
}

type loginInput struct {
	User     string
	Password string
	Codes    []string
}

func TestRoundTrip(t *testing.T) {
	k := mustKeys(t, "k1:"+newKey(t))
	dc := codec.DataConverter(k)
	s := secret(t)

	tests := []struct {
		name  string
		value any
		out   func() any // fresh pointer to decode into
	}{
		{name: "string", value: s, out: func() any { return new(string) }},
		{name: "struct", value: loginInput{User: "alice", Password: s, Codes: []string{s, "x"}}, out: func() any { return new(loginInput) }},
		{name: "bytes", value: []byte(s), out: func() any { return new([]byte) }},
		{name: "empty string", value: "", out: func() any { return new(string) }},
		{name: "nil", value: nil, out: func() any { return new(*loginInput) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := dc.ToPayload(tt.value)
			if err != nil {
				t.Fatalf("ToPayload: %v", err)
			}
			if got := string(p.Metadata[converter.MetadataEncoding]); got != codec.MetadataEncodingEncrypted {
				t.Errorf("encoding = %q, want %q", got, codec.MetadataEncodingEncrypted)
			}
			if got := string(p.Metadata[codec.MetadataKeyID]); got != "k1" {
				t.Errorf("key id = %q, want k1", got)
			}
			raw, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("encrypted payload contains the secret in clear")
			}
			// The inner encoding must be hidden too.
			for _, inner := range []string{"json/plain", "binary/plain", "binary/null"} {
				if bytes.Contains(raw, []byte(inner)) {
					t.Errorf("encrypted payload reveals inner encoding %q", inner)
				}
			}

			out := tt.out()
			if err := dc.FromPayload(p, out); err != nil {
				t.Fatalf("FromPayload: %v", err)
			}
			// Compare through the unencrypted default converter so every
			// type compares the same way.
			want, _ := converter.GetDefaultDataConverter().ToPayload(tt.value)
			got, _ := converter.GetDefaultDataConverter().ToPayload(deref(out))
			if !proto.Equal(want, got) {
				t.Errorf("round trip: got %v, want %v", got, want)
			}
		})
	}
}

func deref(p any) any {
	switch v := p.(type) {
	case *string:
		return *v
	case *loginInput:
		return *v
	case *[]byte:
		return *v
	case **loginInput:
		if *v == nil {
			return nil
		}
		return **v
	}
	panic(fmt.Sprintf("unexpected %T", p))
}

func TestEncodeUsesFreshNonce(t *testing.T) {
	c := codec.NewCodec(mustKeys(t, "k1:"+newKey(t)))
	in := []*commonpb.Payload{{Data: []byte("same")}, {Data: []byte("same")}}
	out, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out[0].Data, out[1].Data) {
		t.Fatal("two encryptions of the same payload are identical: nonce reused")
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	before := mustKeys(t, "k1:"+k1)
	after := mustKeys(t, "k2:"+k2+",k1:"+k1)
	s := secret(t)

	old, err := codec.DataConverter(before).ToPayload(s)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("old key still decrypts", func(t *testing.T) {
		var got string
		if err := codec.DataConverter(after).FromPayload(old, &got); err != nil {
			t.Fatalf("FromPayload: %v", err)
		}
		if got != s {
			t.Fatalf("got %q, want %q", got, s)
		}
	})

	t.Run("new key encrypts", func(t *testing.T) {
		if after.ActiveKeyID() != "k2" {
			t.Fatalf("ActiveKeyID = %q, want k2", after.ActiveKeyID())
		}
		p, err := codec.DataConverter(after).ToPayload(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.Metadata[codec.MetadataKeyID]); got != "k2" {
			t.Fatalf("key id = %q, want k2", got)
		}
		// A process that was not yet given k2 cannot read it and says why.
		var out string
		err = codec.DataConverter(before).FromPayload(p, &out)
		if !errors.Is(err, codec.ErrUnknownKeyID) {
			t.Fatalf("err = %v, want ErrUnknownKeyID", err)
		}
		if !strings.Contains(err.Error(), `"k2"`) {
			t.Errorf("error %q does not name the unknown key id", err)
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	ka, kb := newKey(t), newKey(t)
	ring := mustKeys(t, "a:"+ka+",b:"+kb)
	c := codec.NewCodec(ring)
	enc, err := c.Encode([]*commonpb.Payload{{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain")},
		Data:     []byte(`"secret"`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	good := enc[0]

	tests := []struct {
		name   string
		mutate func(p *commonpb.Payload)
		want   error
	}{
		{name: "flipped nonce byte", mutate: func(p *commonpb.Payload) { p.Data[0] ^= 1 }, want: codec.ErrAuthentication},
		{name: "flipped ciphertext byte", mutate: func(p *commonpb.Payload) { p.Data[14] ^= 0x80 }, want: codec.ErrAuthentication},
		{name: "flipped tag byte", mutate: func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }, want: codec.ErrAuthentication},
		{name: "truncated", mutate: func(p *commonpb.Payload) { p.Data = p.Data[:len(p.Data)-5] }, want: codec.ErrAuthentication},
		{name: "shorter than a nonce", mutate: func(p *commonpb.Payload) { p.Data = p.Data[:4] }, want: codec.ErrAuthentication},
		{name: "appended byte", mutate: func(p *commonpb.Payload) { p.Data = append(p.Data, 0) }, want: codec.ErrAuthentication},
		{name: "relabelled with another known key id", mutate: func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("b") }, want: codec.ErrAuthentication},
		{name: "unknown key id", mutate: func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("zz") }, want: codec.ErrUnknownKeyID},
		{name: "missing key id", mutate: func(p *commonpb.Payload) { delete(p.Metadata, codec.MetadataKeyID) }, want: codec.ErrUnknownKeyID},
		{name: "plaintext payload", mutate: func(p *commonpb.Payload) {
			p.Metadata = map[string][]byte{converter.MetadataEncoding: []byte("json/plain")}
			p.Data = []byte(`"injected"`)
		}, want: codec.ErrNotEncrypted},
		{name: "no metadata", mutate: func(p *commonpb.Payload) { p.Metadata = nil }, want: codec.ErrNotEncrypted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proto.Clone(good).(*commonpb.Payload)
			tt.mutate(p)
			_, err := c.Decode([]*commonpb.Payload{p})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("untouched payload decodes", func(t *testing.T) {
		out, err := c.Decode([]*commonpb.Payload{proto.Clone(good).(*commonpb.Payload)})
		if err != nil {
			t.Fatal(err)
		}
		if string(out[0].Data) != `"secret"` || string(out[0].Metadata[converter.MetadataEncoding]) != "json/plain" {
			t.Fatalf("decoded %v", out[0])
		}
	})

	t.Run("same key under another keyring with the same id but other bytes", func(t *testing.T) {
		other := codec.NewCodec(mustKeys(t, "a:"+newKey(t)))
		_, err := other.Decode([]*commonpb.Payload{proto.Clone(good).(*commonpb.Payload)})
		if !errors.Is(err, codec.ErrAuthentication) {
			t.Fatalf("err = %v, want ErrAuthentication", err)
		}
	})
}

func TestNilKeyringFailsClosed(t *testing.T) {
	c := codec.NewCodec(nil)
	if _, err := c.Encode([]*commonpb.Payload{{Data: []byte("x")}}); err == nil {
		t.Error("Encode with nil keyring succeeded")
	}
	if _, err := c.Decode([]*commonpb.Payload{{Data: []byte("x")}}); err == nil {
		t.Error("Decode with nil keyring succeeded")
	}
	if _, err := codec.DataConverter(nil).ToPayload("x"); err == nil {
		t.Error("DataConverter(nil).ToPayload succeeded")
	}
}

func TestParseKeys(t *testing.T) {
	raw := make([]byte, codec.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	short := base64.StdEncoding.EncodeToString(raw[:16])
	long := base64.StdEncoding.EncodeToString(append(raw, 1))

	valid := []struct {
		name    string
		spec    string
		wantIDs []string
	}{
		{name: "one key", spec: "k1:" + std, wantIDs: []string{"k1"}},
		{name: "first is active", spec: "k2:" + newKey(t) + ",k1:" + std, wantIDs: []string{"k2", "k1"}},
		{name: "spaces around entries", spec: "  k2 : " + newKey(t) + " ,\tk1:" + std + " ", wantIDs: []string{"k2", "k1"}},
		{name: "url base64 without padding", spec: "k1:" + base64.RawURLEncoding.EncodeToString(raw), wantIDs: []string{"k1"}},
		{name: "std base64 without padding", spec: "k1:" + base64.RawStdEncoding.EncodeToString(raw), wantIDs: []string{"k1"}},
		{name: "id punctuation", spec: "prod-2026.01_a:" + std, wantIDs: []string{"prod-2026.01_a"}},
	}
	for _, tt := range valid {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			k, err := codec.ParseKeys(tt.spec)
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if got := k.KeyIDs(); strings.Join(got, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("KeyIDs = %v, want %v", got, tt.wantIDs)
			}
			if k.ActiveKeyID() != tt.wantIDs[0] {
				t.Errorf("ActiveKeyID = %q, want %q", k.ActiveKeyID(), tt.wantIDs[0])
			}
		})
	}

	invalid := []struct {
		name string
		spec string
		want string // substring the message must contain
	}{
		{name: "empty", spec: "", want: "empty"},
		{name: "blank", spec: "  ", want: "empty"},
		{name: "stray comma", spec: "k1:" + std + ",", want: "entry 2 is empty"},
		{name: "no separator", spec: std, want: "entry 1 has no ':'"},
		{name: "empty id", spec: ":" + std, want: "key id is empty"},
		{name: "bad id character", spec: "k/1:" + std, want: `contains '/'`},
		{name: "id too long", spec: strings.Repeat("k", 65) + ":" + std, want: "at most 64"},
		{name: "duplicate id", spec: "k1:" + std + ",k1:" + newKey(t), want: `"k1" appears more than once`},
		{name: "empty key", spec: "k1:", want: "key is empty"},
		{name: "not base64", spec: "k1:not*base64!", want: "not valid base64"},
		{name: "16-byte key", spec: "k1:" + short, want: "decodes to 16 bytes, AES-256 needs exactly 32"},
		{name: "33-byte key", spec: "k1:" + long, want: "decodes to 33 bytes, AES-256 needs exactly 32"},
		{name: "second entry bad", spec: "k2:" + std + ",k1:" + short, want: `entry 2 (id "k1")`},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			k, err := codec.ParseKeys(tt.spec)
			if err == nil {
				t.Fatalf("ParseKeys succeeded with ids %v", k.KeyIDs())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			// Messages are logged at start-up: they must not leak keys.
			for _, material := range []string{std, short, long, strings.TrimRight(std, "=")} {
				if strings.Contains(err.Error(), material) {
					t.Errorf("error %q contains key material", err)
				}
			}
		})
	}
}

func TestFailureConverterHidesMessage(t *testing.T) {
	k := mustKeys(t, "k1:"+newKey(t))
	fc := codec.FailureConverter(k)
	s := secret(t)

	f := fc.ErrorToFailure(fmt.Errorf("wrong one-time code %s", s))
	raw, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(s)) {
		t.Fatal("failure carries the error message in clear")
	}
	back := fc.FailureToError(f)
	if back == nil || !strings.Contains(back.Error(), s) {
		t.Fatalf("FailureToError = %v, want message containing the secret", back)
	}
}
