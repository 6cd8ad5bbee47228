package totp

import (
	"testing"
	"time"
)

// TestRFC6238Vectors checks code generation against RFC 6238 Appendix B (8 digits, 30 s steps).
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Algorithm]string{
		SHA1:   "12345678901234567890",
		SHA256: "12345678901234567890123456789012",
		SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	tests := []struct {
		unix int64
		want map[Algorithm]string
	}{
		{59, map[Algorithm]string{SHA1: "94287082", SHA256: "46119246", SHA512: "90693936"}},
		{1111111109, map[Algorithm]string{SHA1: "07081804", SHA256: "68084774", SHA512: "25091201"}},
		{1111111111, map[Algorithm]string{SHA1: "14050471", SHA256: "67062674", SHA512: "99943326"}},
		{1234567890, map[Algorithm]string{SHA1: "89005924", SHA256: "91819424", SHA512: "93441116"}},
		{2000000000, map[Algorithm]string{SHA1: "69279037", SHA256: "90698825", SHA512: "38618901"}},
		{20000000000, map[Algorithm]string{SHA1: "65353130", SHA256: "77737706", SHA512: "47863826"}},
	}
	for _, tc := range tests {
		for alg, want := range tc.want {
			t.Run(time.Unix(tc.unix, 0).UTC().Format(time.RFC3339)+"/"+string(alg), func(t *testing.T) {
				a := &Authenticator{cfg: Config{Digits: 8, Period: 30 * time.Second, Skew: 0}}
				h, err := alg.hash()
				if err != nil {
					t.Fatal(err)
				}
				a.hash = h
				now := time.Unix(tc.unix, 0)
				if got := code(h, []byte(seeds[alg]), a.step(now), 8); got != want {
					t.Errorf("code = %s, want %s", got, want)
				}
				if _, ok := a.match([]byte(seeds[alg]), want, now); !ok {
					t.Error("match rejects the RFC code")
				}
			})
		}
	}
}
