package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// namedKey is one 32-byte key with an id, as given in --encryption-keys.
type namedKey struct {
	ID  string
	Key []byte
}

// parseKeySpec reads "id:base64,id:base64…" (the first key is the active one).
func parseKeySpec(spec string) ([]namedKey, error) {
	var out []namedKey
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" {
			return nil, errors.New(`each key must be "id:base64"`)
		}
		if seen[id] {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		seen[id] = true
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("key %q is not standard base64", id)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("key %q must be 32 bytes, got %d", id, len(key))
		}
		out = append(out, namedKey{ID: id, Key: key})
	}
	return out, nil
}

// devSecret returns the random secret of n bytes kept base64-encoded in path (mode 0600),
// creating it on first use. It is for development (serve with a data dir); production passes
// secrets through configuration so every replica shares them.
func devSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != n {
			return nil, fmt.Errorf("%s does not hold %d base64 bytes", path, n)
		}
		return key, nil
	case errors.Is(err, fs.ErrNotExist):
		key := make([]byte, n)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, werr
		}
		return key, nil
	default:
		return nil, err
	}
}
