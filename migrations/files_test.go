package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// TestFiles checks the rules every migration file follows: goose's numbered
// naming, versions 1..n without gaps or duplicates, an Up section and no Down
// section (migrations are forward-only: a fix is a new migration).
func TestFiles(t *testing.T) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no embedded migrations")
	}
	name := regexp.MustCompile(`^[0-9]{5}_[a-z0-9_]+\.sql$`)
	seen := map[int64]string{}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			if !name.MatchString(e.Name()) {
				t.Errorf("name %q does not match %s", e.Name(), name)
			}
			v, err := goose.NumericComponent(e.Name())
			if err != nil {
				t.Fatalf("version: %v", err)
			}
			if prev, dup := seen[v]; dup {
				t.Errorf("version %d used by %s and %s", v, prev, e.Name())
			}
			seen[v] = e.Name()
			b, err := files.ReadFile(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			if !strings.Contains(text, "-- +goose Up") {
				t.Error("missing -- +goose Up")
			}
			if strings.Contains(text, "+goose Down") {
				t.Error("has a Down section; migrations are forward-only")
			}
		})
	}
	for v := int64(1); v <= int64(len(entries)); v++ {
		if _, ok := seen[v]; !ok {
			t.Errorf("version %d missing: versions must be 1..%d", v, len(entries))
		}
	}
	if got, want := Latest(), int64(len(entries)); got != want {
		t.Errorf("Latest() = %d, want %d", got, want)
	}
}

func TestFingerprintStable(t *testing.T) {
	a, b := Fingerprint(), Fingerprint()
	if a != b || len(a) != 64 {
		t.Fatalf("Fingerprint() = %q then %q, want one 64-hex-digit value", a, b)
	}
	if _, err := fmt.Sscanf(a, "%x", new([]byte)); err != nil {
		t.Errorf("Fingerprint() %q is not hex: %v", a, err)
	}
}
