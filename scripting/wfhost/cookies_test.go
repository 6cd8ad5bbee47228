package wfhost_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

func TestCookieCodec(t *testing.T) {
	ctx := t.Context()
	codec, err := wfhost.NewCookieCodec(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, err := wfhost.NewCookieCodec(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wfhost.NewCookieCodec([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
	sealed, err := codec.Seal(ctx, "device-42", true, true)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := codec.Seal(ctx, "device-42", true, true)
	if sealed == again {
		t.Error("two encryptions of the same value are equal: the nonce is not random")
	}
	raw, sig, ok := scripting.DecodeCookie(sealed)
	if !ok || sig == "" || strings.Contains(raw, "device-42") {
		t.Fatalf("envelope %q %q %v", raw, sig, ok)
	}
	tests := []struct {
		name              string
		codec             *wfhost.CookieCodec
		stored            string
		decrypt, validate bool
		want              string
		wantOK            bool
	}{
		{"decrypt and validate", codec, sealed, true, true, "device-42", true},
		{"decrypt only", codec, sealed, true, false, "device-42", true},
		{"other key cannot decrypt", other, sealed, true, false, "", false},
		{"signature over the plain value fails on the ciphertext", codec, sealed, false, true, "", false},
		{"tampered ciphertext", codec, scripting.EncodeCookie(flip(raw), sig), true, true, "", false},
		{"forged signature", codec, scripting.EncodeCookie("admin", sig), false, true, "", false},
		{"unsigned value with validation", codec, scripting.EncodeCookie("x", ""), false, true, "", false},
		{"not an envelope", codec, "plain-cookie", false, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := tc.codec.Open(ctx, tc.stored, tc.decrypt, tc.validate)
			if err != nil || got != tc.want || ok != tc.wantOK {
				t.Errorf("Open = %q, %v, %v; want %q, %v", got, ok, err, tc.want, tc.wantOK)
			}
		})
	}
	signed, _ := codec.Seal(ctx, "v", true, false)
	if got, ok, _ := codec.Open(ctx, signed, false, true); !ok || got != "v" {
		t.Errorf("signed only: %q %v", got, ok)
	}
	// The envelope is WSO2's: base64 of {"value": …, "signature": …|null}.
	var env map[string]any
	plain := scripting.EncodeCookie("v", "")
	if v, _, _ := scripting.DecodeCookie(plain); v != "v" {
		t.Errorf("plain round trip %q", v)
	}
	if err := json.Unmarshal(mustB64(t, plain), &env); err != nil || env["signature"] != nil || env["value"] != "v" {
		t.Errorf("plain envelope %v (%v)", env, err)
	}
}

func flip(b64 string) string {
	b := []byte(b64)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestRenderTemplate(t *testing.T) {
	got := wfhost.RenderTemplate("Hi {{user-name}}, code {{ code }}{{missing}} {{unclosed", map[string]string{"user-name": "alice", "code": "42"})
	if want := "Hi alice, code 42 {{unclosed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
