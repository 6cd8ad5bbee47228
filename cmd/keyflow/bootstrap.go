package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// adminUsername is the bootstrap administrator of the root organization.
const adminUsername = "admin"

// adminCredential reports the bootstrap admin; Password is set only when it was generated on this
// start and must be shown once.
type adminCredential struct {
	Username string
	Password string
	File     string
}

// bootstrap creates the root organization and the admin user on first start. The password comes
// from --admin-password, else it is generated, returned for printing once and written 0600 to
// the data dir.
func bootstrap(ctx context.Context, st *store.Store, cfg *Config) (adminCredential, error) {
	org, err := st.EnsureRootOrganization(ctx)
	if err != nil {
		return adminCredential{}, fmt.Errorf("bootstrap: root organization: %w", err)
	}
	cred := adminCredential{Username: adminUsername}
	_, err = st.UserByUsername(ctx, org.ID, store.DefaultDomain, adminUsername)
	if err == nil {
		return cred, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return adminCredential{}, fmt.Errorf("bootstrap: look up admin: %w", err)
	}
	pw := cfg.AdminPassword
	generated := pw == ""
	if generated {
		if pw, err = password.Generate(24); err != nil {
			return adminCredential{}, err
		}
	}
	hash, err := password.Hash(pw, password.OWASP)
	if err != nil {
		return adminCredential{}, err
	}
	if generated {
		// Written before the user exists: a crash in between leaves a file for a user that a
		// restart creates again with a new password, never a user whose password is lost.
		cred.File = filepath.Join(cfg.DataDir, "admin-password")
		if err := os.WriteFile(cred.File, []byte(pw+"\n"), 0o600); err != nil {
			return adminCredential{}, fmt.Errorf("bootstrap: write %s: %w", cred.File, err)
		}
		cred.Password = pw
	}
	_, err = st.CreateUser(ctx, store.NewUser{
		OrgID:        org.ID,
		Domain:       store.DefaultDomain,
		Username:     adminUsername,
		PasswordHash: hash,
		Claims: map[string]string{
			"http://wso2.org/claims/username":  adminUsername,
			"http://wso2.org/claims/givenname": "Administrator",
		},
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return adminCredential{}, fmt.Errorf("bootstrap: create admin: %w", err)
	}
	return cred, nil
}

func printBanner(out io.Writer, cfg *Config, admin adminCredential, demo demoApplication, took time.Duration) {
	fmt.Fprintf(out, "\nKeyflow is running (started in %s)\n", took.Round(time.Millisecond))
	fmt.Fprintf(out, "  URL:        %s\n", cfg.BaseURL)
	fmt.Fprintf(out, "  readiness:  %s/readyz\n", cfg.BaseURL)
	fmt.Fprintf(out, "  metrics:    %s/metrics\n", cfg.BaseURL)
	fmt.Fprintf(out, "  discovery:  %s/.well-known/openid-configuration\n", cfg.BaseURL)
	fmt.Fprintf(out, "  data dir:   %s\n", cfg.DataDir)
	fmt.Fprintf(out, "  demo app:   client_id %s, redirect_uri %s (public, PKCE, app-native login)\n", demo.ClientID, demo.RedirectURI)
	if admin.Password != "" {
		fmt.Fprintf(out, "  admin user: %s\n  password:   %s   (shown once; also in %s)\n", admin.Username, admin.Password, admin.File)
	} else {
		fmt.Fprintf(out, "  admin user: %s (password set earlier or from KEYFLOW_ADMIN_PASSWORD)\n", admin.Username)
	}
	fmt.Fprintln(out)
}
