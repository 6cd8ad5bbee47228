package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadEmailTemplates(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("AccountLocked:\n  subject: Your account {{user-name}} is locked\n  body: |\n    Hello {{user-name}},\n    we locked your account.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadEmailTemplates(good)
	if err != nil || len(got) != 1 || got["AccountLocked"].Subject != "Your account {{user-name}} is locked" ||
		got["AccountLocked"].Body != "Hello {{user-name}},\nwe locked your account.\n" {
		t.Fatalf("loadEmailTemplates = %+v, %v", got, err)
	}
	if got, err := loadEmailTemplates(""); err != nil || got != nil {
		t.Errorf("no file: %v, %v", got, err)
	}
	noBody := filepath.Join(dir, "nobody.yaml")
	if err := os.WriteFile(noBody, []byte("X:\n  subject: s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{noBody, filepath.Join(dir, "missing.yaml")} {
		var ce *ConfigError
		if _, err := loadEmailTemplates(path); !errors.As(err, &ce) || ce.Setting != "--email-templates / KEYFLOW_EMAIL_TEMPLATES" {
			t.Errorf("%s: %v, want a ConfigError naming the setting", filepath.Base(path), err)
		}
	}
}
