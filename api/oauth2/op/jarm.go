package op

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
)

// JWT Secured Authorization Response Mode (JARM) response modes: the
// response parameters travel in one signed JWT, the response parameter.
const (
	// ResponseModeJWT is query.jwt for response type code, fragment.jwt
	// for the others (JARM §2.3.4).
	ResponseModeJWT         = "jwt"
	ResponseModeQueryJWT    = "query.jwt"
	ResponseModeFragmentJWT = "fragment.jwt"
	ResponseModeFormPostJWT = "form_post.jwt"
	// JARMLifetime is how long a JARM response JWT is valid (JARM §2.1
	// recommends a short lifetime, ten minutes at most).
	JARMLifetime = 10 * time.Minute
	jarmSuffix   = ".jwt"
)

// ResponseModes lists the response_mode values served
// (response_modes_supported).
func ResponseModes() []string {
	return []string{ResponseModeQuery, ResponseModeFragment, ResponseModeFormPost,
		ResponseModeJWT, ResponseModeQueryJWT, ResponseModeFragmentJWT, ResponseModeFormPostJWT}
}

func isJARM(mode string) bool { return strings.HasSuffix(mode, jarmSuffix) }

// resolveResponseMode is the mode a response goes back in: the requested
// one when known (jwt made concrete), else the response type's default.
func resolveResponseMode(requested, rt string) string {
	switch {
	case requested == ResponseModeJWT:
		return defaultResponseMode(rt) + jarmSuffix
	case requested != "" && slices.Contains(ResponseModes(), requested):
		return requested
	}
	return defaultResponseMode(rt)
}

// jarmParams signs params into a JARM response (JARM §2.1): the JWT
// carries them with iss, aud (the client id) and exp. Should signing fail,
// the client gets a plain server_error in the same mode rather than
// nothing.
func (p *Provider) jarmParams(ctx context.Context, req *AuthorizeRequest, params url.Values) url.Values {
	claims := map[string]any{}
	for k := range params {
		claims[k] = params.Get(k)
	}
	claims["iss"] = p.issuer
	claims["aud"] = req.ClientID
	claims["exp"] = p.now().Add(JARMLifetime).Unix()
	alg := req.ResponseSigningAlg
	if alg == "" || !slices.Contains(p.keys.Algorithms(), alg) {
		alg = p.keys.Algorithms()[0]
	}
	payload, err := json.Marshal(claims)
	var tok string
	if err == nil {
		tok, err = p.keys.Sign(ctx, alg, jwtkeys.TypeJWT, payload)
	}
	if err != nil {
		p.log.ErrorContext(ctx, "op: sign JARM response", "client_id", req.ClientID, "error", err)
		out := url.Values{"error": {CodeServerError}, "iss": {p.issuer}}
		if req.State != "" {
			out.Set("state", req.State)
		}
		return out
	}
	return url.Values{"response": {tok}}
}
