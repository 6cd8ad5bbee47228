package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/connectors/password"
)

// limits are the costs a login cannot go below on this machine, measured in the same run.
type limits struct {
	argon2 time.Duration // one argon2id hash with password.OWASP (a password check costs the same)
	es256  time.Duration // one ES256 JWS (go-jose, as package jwtkeys signs)
}

// measureLimits times argon2id and ES256 on one goroutine: the CPU time per operation (this
// process's user+system time over the loop), which a machine shared with other work does not
// inflate as it does wall-clock time.
func measureLimits() (limits, error) {
	var l limits
	var err error
	l.argon2, err = cpuPerOp(15, func() error {
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
	l.es256, err = cpuPerOp(501, func() error {
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

// cpuPerOp runs f n times and returns this process's CPU time per run.
func cpuPerOp(n int, f func() error) (time.Duration, error) {
	t0 := processCPU()
	for range n {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return (processCPU() - t0) / time.Duration(n), nil
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
