package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Content types the SMS body template knows how to escape for.
const (
	ContentJSON = "application/json"
	ContentForm = "application/x-www-form-urlencoded"
	ContentText = "text/plain"
)

// Template placeholders, WSO2's custom SMS provider names.
const (
	PlaceholderMobile = "{{mobile}}"
	PlaceholderBody   = "{{body}}"
)

// HTTPSMSConfig configures an HTTP SMS sender.
type HTTPSMSConfig struct {
	// URL is the provider's endpoint; placeholders are replaced query-escaped.
	URL string
	// Method defaults to POST.
	Method string
	// ContentType is the request body's type; it decides how placeholders in Body are escaped:
	// ContentJSON (as the inside of a JSON string), ContentForm (form-escaped) or anything else
	// (verbatim). Default ContentJSON.
	ContentType string
	// Body is the request body template, e.g. {"to":"{{mobile}}","text":"{{body}}"}. Empty sends
	// no body.
	Body string
	// Headers are sent with every request (Authorization, API keys). Values are not templated.
	Headers map[string]string
	// Timeout bounds one request; default 10s.
	Timeout time.Duration
	// Client is the HTTP client; nil means a new one with Timeout.
	Client *http.Client
}

// HTTPSMS sends text messages through an HTTP provider. It is safe for concurrent use.
type HTTPSMS struct {
	cfg HTTPSMSConfig
}

// NewHTTPSMS validates cfg and returns a sender.
func NewHTTPSMS(cfg HTTPSMSConfig) (*HTTPSMS, error) {
	u, err := url.Parse(strings.NewReplacer(PlaceholderMobile, "x", PlaceholderBody, "x").Replace(cfg.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("notify: SMS URL must be an absolute http(s) URL")
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.ContentType == "" {
		cfg.ContentType = ContentJSON
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("notify: negative SMS Timeout")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &HTTPSMS{cfg: cfg}, nil
}

// Send sends body to the mobile number to. A non-2xx response is an error (its status only:
// provider answers may echo the message).
func (h *HTTPSMS) Send(ctx context.Context, to, body string) error {
	if to == "" {
		return errors.New("notify: SMS without a recipient")
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	target := strings.NewReplacer(PlaceholderMobile, url.QueryEscape(to), PlaceholderBody, url.QueryEscape(body)).Replace(h.cfg.URL)
	var rd io.Reader
	if h.cfg.Body != "" {
		esc := func(s string) string { return s }
		switch h.cfg.ContentType {
		case ContentJSON:
			esc = jsonInner
		case ContentForm:
			esc = url.QueryEscape
		}
		rd = strings.NewReader(strings.NewReplacer(PlaceholderMobile, esc(to), PlaceholderBody, esc(body)).Replace(h.cfg.Body))
	}
	req, err := http.NewRequestWithContext(ctx, h.cfg.Method, target, rd)
	if err != nil {
		return fmt.Errorf("notify: sms request: %w", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", h.cfg.ContentType)
	}
	for k, v := range h.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold the message: report the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify: sms send: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notify: sms provider answered %s", resp.Status)
	}
	return nil
}

// jsonInner escapes s for use inside a JSON string literal.
func jsonInner(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}
