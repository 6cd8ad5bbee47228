package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	good := storetest.URL(t)
	tests := []struct {
		name string
		url  string
		opts []store.Option
	}{
		{name: "unparsable URL", url: "postgres://u:secret@%zz/"},
		{name: "nothing listening", url: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=5"},
		{name: "nil logger", url: good, opts: []store.Option{store.WithLogger(nil)}},
		{name: "negative pool size", url: good, opts: []store.Option{store.WithMaxConns(-1)}},
		{name: "negative statement timeout", url: good, opts: []store.Option{store.WithStatementTimeout(-time.Second)}},
		{name: "zero tx attempts", url: good, opts: []store.Option{store.WithTxAttempts(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := store.Open(ctx, tc.url, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestOpenPingClose(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded after Close")
	}
}
