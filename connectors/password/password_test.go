package password

import (
	"errors"
	"strings"
	"testing"
)

// fast keeps the tests quick; the format and logic do not depend on the cost.
var fast = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", h)
	}
	h2, _ := Hash("correct horse", fast)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "correct horse", true},
		{"wrong", "correct horse!", false},
		{"empty", "", false},
		{"case", "Correct horse", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.pw, h)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, _ := Hash("x", fast)
	parts := strings.Split(good, "$")
	tests := []struct {
		name, hash string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"version", strings.Replace(good, "v=19", "v=16", 1)},
		{"params", strings.Replace(good, "m=64,t=1,p=1", "m=x", 1)},
		{"huge memory", strings.Replace(good, "m=64", "m=99999999", 1)},
		{"salt", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$")},
		{"short key", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify("x", tc.hash); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify on %q: err = %v, want ErrMalformed", tc.hash, err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h, _ := Hash("x", fast)
	if NeedsRehash(h, fast) {
		t.Error("same params reported as needing rehash")
	}
	stronger := fast
	stronger.Time = 2
	if !NeedsRehash(h, stronger) {
		t.Error("weaker hash not reported as needing rehash")
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate(24)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(24)
	if len(a) != 24 || a == b {
		t.Fatalf("Generate gave %q and %q", a, b)
	}
}

func BenchmarkHashOWASP(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple", OWASP); err != nil {
			b.Fatal(err)
		}
	}
}
