package codec

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyFileMode is the only permission set LoadOrCreateKeyFile writes; on load
// any group or world bit is refused.
const keyFileMode fs.FileMode = 0o600

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads; a key file holding a
// few dozen keys is well under it.
const maxKeyFileSize = 64 << 10

// LoadOrCreateKeyFile returns the Keyring stored at path, creating the file
// with one fresh random key on first use. It is meant for development and the
// single-binary `keyflow serve`; production passes keys with ParseKeys from
// its secret store.
//
// File format: one id:base64key entry per line (or several per line,
// comma-separated, as in ParseKeys), first entry active; blank lines and
// lines starting with '#' are ignored. Operators rotate by adding a new first
// line and keeping the old one.
//
// Permissions: the file is created with mode 0600 (its directory with 0700 if
// missing). An existing file that grants any permission to group or others
// is refused, not silently fixed: by then the key may already have been read
// by someone else, so the right repair is a new key, which only the operator
// can decide on. The error says how to fix it.
//
// Creation is atomic (written to a temporary file, then hard-linked into
// place), so two processes starting at once end up sharing one key.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	k, err := loadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	return loadKeyFile(path)
}

func loadKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("codec: open key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("codec: stat key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("codec: key file %s is not a regular file (%s)", path, st.Mode().Type())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("codec: key file %s has mode %04o, readable beyond its owner; "+
			"the key may be exposed: replace it with a new key (or, if you are sure it was not read, chmod 600 it)",
			path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("codec: read key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("codec: key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	var entries []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries = append(entries, line)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("codec: key file %s holds no keys", path)
	}
	k, err := ParseKeys(strings.Join(entries, ","))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("codec: create key file directory: %w", err)
	}
	var key [KeySize]byte
	var idSuffix [4]byte
	if _, err := rand.Read(key[:]); err != nil {
		return fmt.Errorf("codec: generate key: %w", err)
	}
	if _, err := rand.Read(idSuffix[:]); err != nil {
		return fmt.Errorf("codec: generate key id: %w", err)
	}
	content := "# Keyflow Temporal payload keys (AES-256-GCM). First entry encrypts; all decrypt.\n" +
		"# To rotate: add a new id:base64key line at the top and keep the old lines\n" +
		"# until no history encrypted with them is retained. Keep this file mode 0600.\n" +
		"dev-" + hex.EncodeToString(idSuffix[:]) + ":" + base64.StdEncoding.EncodeToString(key[:]) + "\n"

	// CreateTemp opens with mode 0600 regardless of umask widening.
	tmp, err := os.CreateTemp(dir, ".keyflow-keyfile-*")
	if err != nil {
		return fmt.Errorf("codec: create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(keyFileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("codec: chmod key file: %w", err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("codec: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("codec: sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("codec: close key file: %w", err)
	}
	// Link fails if path exists: a concurrent starter won the race and its
	// complete file is the one to use.
	if err := os.Link(tmpName, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("codec: install key file: %w", err)
	}
	return nil
}
