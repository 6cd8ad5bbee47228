package codec_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyflow/keyflow/flows/codec"
)

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Run("creates 0600 file in a new 0700 directory and reuses it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "keys")
		path := filepath.Join(dir, "payload.key")

		first, err := codec.LoadOrCreateKeyFile(path)
		if err != nil {
			t.Fatalf("first start: %v", err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", perm)
		}
		dst, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := dst.Mode().Perm(); perm != 0o700 {
			t.Errorf("key directory mode = %04o, want 0700", perm)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the key file (temp file left behind?)", len(entries))
		}

		second, err := codec.LoadOrCreateKeyFile(path)
		if err != nil {
			t.Fatalf("second start: %v", err)
		}
		if first.ActiveKeyID() != second.ActiveKeyID() {
			t.Fatalf("active key id changed across starts: %q then %q", first.ActiveKeyID(), second.ActiveKeyID())
		}
		// Same id is not enough: the bytes must be the same key.
		s := secret(t)
		p, err := codec.DataConverter(first).ToPayload(s)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := codec.DataConverter(second).FromPayload(p, &got); err != nil || got != s {
			t.Fatalf("second start cannot read first start's payload: %q, %v", got, err)
		}
	})

	t.Run("two files get different keys", func(t *testing.T) {
		dir := t.TempDir()
		a, err := codec.LoadOrCreateKeyFile(filepath.Join(dir, "a.key"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := codec.LoadOrCreateKeyFile(filepath.Join(dir, "b.key"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := codec.DataConverter(a).ToPayload("x")
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if err := codec.DataConverter(b).FromPayload(p, &out); err == nil {
			t.Fatal("a key from another file decrypted the payload")
		}
	})

	t.Run("concurrent starters share one key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "payload.key")
		const n = 8
		rings := make([]*codec.Keyring, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { rings[i], errs[i] = codec.LoadOrCreateKeyFile(path) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("starter %d: %v", i, errs[i])
			}
		}
		p, err := codec.DataConverter(rings[0]).ToPayload("shared")
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < n; i++ {
			var out string
			if err := codec.DataConverter(rings[i]).FromPayload(p, &out); err != nil {
				t.Fatalf("starter %d got a different key: %v", i, err)
			}
		}
	})

	t.Run("rotation by editing the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "payload.key")
		old, err := codec.LoadOrCreateKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rotated := "# rotated\n\nnew:" + newKey(t) + "\n" + string(content)
		if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := codec.LoadOrCreateKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if k.ActiveKeyID() != "new" {
			t.Errorf("ActiveKeyID = %q, want new", k.ActiveKeyID())
		}
		p, _ := codec.DataConverter(old).ToPayload("before rotation")
		var out string
		if err := codec.DataConverter(k).FromPayload(p, &out); err != nil {
			t.Fatalf("rotated keyring cannot read old payload: %v", err)
		}
	})

	refused := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{name: "group readable", setup: writeMode(0o640), want: "mode 0640"},
		{name: "world readable", setup: writeMode(0o604), want: "mode 0604"},
		{name: "group writable only", setup: writeMode(0o620), want: "mode 0620"},
		{name: "directory", setup: func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: "not a regular file"},
		{name: "no keys", setup: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("# only a comment\n\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "holds no keys"},
		{name: "bad key", setup: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("k1:c2hvcnQ=\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "decodes to 5 bytes"},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payload.key")
			tt.setup(t, path)
			before, _ := os.Stat(path)
			_, err := codec.LoadOrCreateKeyFile(path)
			if err == nil {
				t.Fatal("LoadOrCreateKeyFile succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			// Refusing must not "repair" or replace the file behind the
			// operator's back.
			after, _ := os.Stat(path)
			if before.Mode() != after.Mode() || before.Size() != after.Size() {
				t.Errorf("file changed: %v/%d → %v/%d", before.Mode(), before.Size(), after.Mode(), after.Size())
			}
		})
	}
}

// writeMode writes a valid key file and then sets perm, so only the mode is
// wrong.
func writeMode(perm os.FileMode) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("k1:"+newKey(t)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
	}
}
