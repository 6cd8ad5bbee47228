package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/connectors/password"
)

// limits are the costs a login cannot go below on this machine, measured in the same run.
type limits struct {
	argon2 time.Duration // one argon2id hash with password.OWASP (a password check costs the same)
	es256  time.Duration // one ES256 JWS (go-jose, as package jwtkeys signs)
}

// measureLimits times argon2id and ES256 on one goroutine and keeps the medians.
func measureLimits() (limits, error) {
	var l limits
	var err error
	l.argon2, err = median(15, func() error {
		_, err := password.Hash("bench-Passw0rd-limit", password.OWASP)
		return err
	})
	if err != nil {
		return l, fmt.Errorf("argon2id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return l, err
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "bench"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return l, err
	}
	payload, err := json.Marshal(map[string]any{"iss": "http://127.0.0.1/oauth2/token", "sub": "5f0c2a6e-bench",
		"aud": benchClientID, "client_id": benchClientID, "scope": "openid profile", "jti": rand.Text(),
		"iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		return l, err
	}
	l.es256, err = median(501, func() error {
		jws, err := sg.Sign(payload)
		if err != nil {
			return err
		}
		_, err = jws.CompactSerialize()
		return err
	})
	if err != nil {
		return l, fmt.Errorf("ES256: %w", err)
	}
	return l, nil
}

func median(n int, f func() error) (time.Duration, error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2], nil
}
