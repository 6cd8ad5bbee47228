package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// demoClientID is the OAuth2 client of the demo application serve registers on first start.
const demoClientID = "keyflow-demo"

// demoApplication describes the demo app for the start-up banner.
type demoApplication struct {
	ClientID    string
	RedirectURI string
}

// demoApp registers, once, a public OAuth2 client with PKCE and an application that logs in with
// a username and password through the app-native API, so a fresh `make run` has something to
// log in to. Production deployments (api) never create it.
func demoApp(ctx context.Context, st *store.Store, prov *op.Provider, cfg *Config) (demoApplication, error) {
	demo := demoApplication{ClientID: demoClientID, RedirectURI: cfg.BaseURL + "/demo/callback"}
	_, err := st.ApplicationByClientID(ctx, demoClientID)
	if err == nil {
		return demo, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return demo, fmt.Errorf("demo application: %w", err)
	}
	org, err := st.EnsureRootOrganization(ctx)
	if err != nil {
		return demo, fmt.Errorf("demo application: %w", err)
	}
	if _, _, err := prov.CreateClient(ctx, op.NewClient{
		OrgID:        org.ID,
		Name:         "Keyflow demo",
		ClientID:     demoClientID,
		Public:       true,
		GrantTypes:   []string{op.GrantAuthorizationCode, op.GrantRefreshToken},
		RedirectURIs: []string{demo.RedirectURI},
		Scopes:       []string{"openid", "profile", "email"},
		// First party: its users are not asked to consent (WSO2's skipLoginConsent).
		SkipConsent: true,
	}); err != nil && !errors.Is(err, store.ErrConflict) {
		return demo, fmt.Errorf("demo client: %w", err)
	}
	_, err = st.CreateApplication(ctx, store.NewApplication{Application: store.Application{
		OrgID:    org.ID,
		Name:     "Keyflow demo",
		ClientID: demoClientID,
		Sequence: store.AuthenticationSequence{
			Type:  store.SequenceUserDefined,
			Steps: []store.AuthenticationStep{{ID: 1, Options: []store.AuthenticationOption{{IdP: store.LocalIdP, Authenticator: "BasicAuthenticator"}}}},
		},
		APIBasedAuthentication: true,
	}})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return demo, fmt.Errorf("demo application: %w", err)
	}
	return demo, nil
}
