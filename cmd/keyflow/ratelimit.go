package main

import (
	"context"
	"fmt"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/ratelimit"
)

// rateLimits builds the per-client rate limits of the HTTP edge (--rate-limit*) and sweeps
// their idle clients until ctx ends; nil when --rate-limit is 0. pages renders the login
// pages' refusals (nil: plain text, for a process without login pages); native, when set,
// gives the app-native API's refusals its CORS headers.
func (p *process) rateLimits(ctx context.Context, pages ratelimit.Pages, native *authn.Handler) (*ratelimit.Guard, error) {
	if p.cfg.RateLimit == 0 {
		return nil, nil
	}
	login := ratelimit.Limit{PerMinute: p.cfg.RateLimit, Burst: p.cfg.RateLimitBurst}
	cfg := ratelimit.Config{
		Limits: map[ratelimit.Class]ratelimit.Limit{
			ratelimit.Login: login,
			ratelimit.Basic: login,
			ratelimit.Token: {PerMinute: p.cfg.RateLimitToken, Burst: p.cfg.RateLimitTokenBurst},
		},
		Pages:      pages,
		TraceID:    api.RequestID,
		Logger:     p.log.With("component", "ratelimit"),
		Registerer: p.registry,
	}
	if native != nil {
		cfg.CORS = native.CORSHeaders
	}
	g, err := ratelimit.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	p.onStop(func(context.Context) { cancel(); <-done })
	return g, nil
}
