package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Targets of issue 4 on 2 cores.
const (
	targetClientCredentials = 8000  // tokens/s
	targetDiscovery         = 20000 // req/s, discovery and JWKS each
	targetIntrospection     = 10000 // req/s, introspection of a JWT access token
)

const formType = "application/x-www-form-urlencoded"

// newHTTP is a client with enough idle connections for conns concurrent clients.
func newHTTP(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns*2, conns*2
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// clientCredentials gets one token at tokenURL with client_secret_basic and checks it is a JWT.
func clientCredentials(ctx context.Context, hc *http.Client, tokenURL, id, secret string) (string, error) {
	b, err := request(ctx, hc, http.MethodPost, tokenURL, formType, url.Values{"grant_type": {"client_credentials"}}.Encode(),
		http.StatusOK, func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) })
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token response without access_token: %.200s", b)
	}
	return tok.AccessToken, nil
}

// ccLoad issues client-credentials tokens from clients concurrent clients for d.
func ccLoad(ctx context.Context, clients int, d time.Duration, tokenURL, id, secret string) (reqResult, error) {
	hc := newHTTP(clients)
	if _, err := clientCredentials(ctx, hc, tokenURL, id, secret); err != nil {
		return reqResult{}, err
	}
	return hammer(ctx, clients, d, func(ctx context.Context, _ int) error {
		_, err := clientCredentials(ctx, hc, tokenURL, id, secret)
		return err
	})
}

// protocolFigures measures Keyflow's fast paths: discovery, JWKS, client credentials (when a
// confidential client could be created) and JWT introspection. It returns the client-credentials
// rate for the peer ratio (0 when not measured).
func protocolFigures(ctx context.Context, base string, o options, cc *clientSecret) ([]result, []string, float64, error) {
	var out []result
	var notes []string
	hc := newHTTP(o.clients)
	for _, ep := range []struct{ name, path string }{
		{"discovery GET /.well-known/openid-configuration", "/.well-known/openid-configuration"},
		{"JWKS GET /oauth2/jwks", "/oauth2/jwks"},
	} {
		res, err := hammer(ctx, o.clients, o.fast, func(ctx context.Context, _ int) error {
			_, err := request(ctx, hc, http.MethodGet, base+ep.path, "", "", http.StatusOK, nil)
			return err
		})
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", ep.name, err)
		}
		out = append(out, rateFigures(ep.name, res, targetDiscovery, "")...)
	}
	if cc == nil {
		notes = append(notes, "client credentials and JWT introspection are not measured: no confidential client (see above)")
		return out, notes, 0, nil
	}
	res, err := ccLoad(ctx, o.clients, o.fast, base+"/oauth2/token", cc.id, cc.secret)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("client credentials: %w", err)
	}
	out = append(out, rateFigures("client-credentials JWT issuance", res, targetClientCredentials, "")...)
	ccRate := res.rate()

	token, err := clientCredentials(ctx, hc, base+"/oauth2/token", cc.id, cc.secret)
	if err != nil {
		return nil, nil, 0, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	res, err = hammer(ctx, o.clients, o.fast, func(ctx context.Context, _ int) error {
		b, err := request(ctx, hc, http.MethodPost, base+"/oauth2/introspect", formType, form, http.StatusOK,
			func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(cc.id), url.QueryEscape(cc.secret)) })
		if err != nil {
			return err
		}
		var in struct {
			Active bool `json:"active"`
		}
		if err := json.Unmarshal(b, &in); err != nil || !in.Active {
			return errors.New("introspection: token not active")
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("introspection: %w", err)
	}
	out = append(out, rateFigures("introspection of a JWT access token", res, targetIntrospection,
		"one token introspected again and again, as a resource server does on each API call: its signature is "+
			"verified once and remembered while its key is published (jwtkeys' verified cache); a token's first "+
			"introspection adds one signature verification (BenchmarkVerify in api/oauth2/jwtkeys)")...)
	return out, notes, ccRate, nil
}

// clientSecret is a confidential client's credentials.
type clientSecret struct{ id, secret string }
