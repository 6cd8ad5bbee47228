package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	crewjam "github.com/crewjam/saml"
)

// Decoding and checking a LogoutRequest as it arrives over either binding. Signature checks
// need the SP and are made by spLogout (logout.go).

// decodeMessage returns the XML of a SAML message parameter: base64 for HTTP-POST, base64 of
// raw DEFLATE for HTTP-Redirect (saml-bindings §3.4.4.1), at most MaxMessageBytes either way.
func decodeMessage(param string, deflated bool) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(param)
	if err != nil {
		return nil, fmt.Errorf("message is not base64: %w", err)
	}
	if !deflated {
		if len(raw) > MaxMessageBytes {
			return nil, errors.New("message too large")
		}
		return raw, nil
	}
	r := flate.NewReader(bytes.NewReader(raw))
	defer func() { _ = r.Close() }()
	out, err := io.ReadAll(io.LimitReader(r, MaxMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("message does not inflate: %w", err)
	}
	if len(out) > MaxMessageBytes {
		return nil, errors.New("message too large")
	}
	return out, nil
}

// parseLogoutRequest parses and checks a LogoutRequest (saml-core §3.7.1): no DTD, version
// 2.0, an ID, an Issuer, a principal, an IssueInstant within maxAge (plus skew) of now and not
// past NotOnOrAfter.
func parseLogoutRequest(data []byte, now time.Time, maxAge, skew time.Duration) (*crewjam.LogoutRequest, error) {
	if len(data) > MaxMessageBytes {
		return nil, errors.New("message too large")
	}
	if err := checkXML(data); err != nil {
		return nil, err
	}
	var lr crewjam.LogoutRequest
	if err := xml.Unmarshal(data, &lr); err != nil {
		return nil, fmt.Errorf("not a LogoutRequest: %w", err)
	}
	switch {
	case lr.Version != samlVersion:
		return nil, fmt.Errorf("version %q: %w", lr.Version, crewjam.ErrUnsupported)
	case lr.ID == "" || lr.Issuer == nil || lr.Issuer.Value == "":
		return nil, fmt.Errorf("ID or Issuer missing: %w", crewjam.ErrMissingElement)
	case lr.NameID == nil && lr.EncryptedID == nil && lr.BaseID == nil:
		return nil, fmt.Errorf("no principal: %w", crewjam.ErrMissingElement)
	case lr.IssueInstant.Add(maxAge + skew).Before(now):
		return nil, fmt.Errorf("issued at %s: %w", lr.IssueInstant, crewjam.ErrExpired)
	case lr.IssueInstant.Add(-skew).After(now):
		return nil, fmt.Errorf("issued at %s: %w", lr.IssueInstant, crewjam.ErrNotYetValid)
	case lr.NotOnOrAfter != nil && !now.Before(lr.NotOnOrAfter.Add(skew)):
		return nil, fmt.Errorf("not valid on or after %s: %w", lr.NotOnOrAfter, crewjam.ErrExpired)
	}
	return &lr, nil
}
