package backchannel_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/flows/backchannel"
	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/temporalx"
	"github.com/keyflow/keyflow/workers/devserver"
)

// temporalAddress is the embedded Temporal server the tests share.
var temporalAddress string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "backchannel-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := devserver.Start(context.Background(), devserver.Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	temporalAddress = srv.FrontendAddress()
	return m.Run()
}

// TestStarter: Notify returns at once and a worker on a real Temporal server delivers the
// message, retrying after the relying party's first failure.
func TestStarter(t *testing.T) {
	got := make(chan string, 1)
	var failed atomic.Bool
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failed.CompareAndSwap(false, true) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got <- r.FormValue("logout_token")
	}))
	t.Cleanup(rp.Close)

	keys, err := codec.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "payload.key"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := temporalx.Dial(t.Context(), temporalx.Config{Address: temporalAddress, Keyring: keys,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	queue := "backchannel-" + t.Name()
	w := worker.New(tc, queue, temporalx.WorkerOptions())
	backchannel.NewFlow(backchannel.Config{InitialInterval: 50 * time.Millisecond}).Register(w)
	(&backchannel.Activities{}).Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	s := &backchannel.Starter{Client: tc, TaskQueue: queue}
	s.Notify(t.Context(), []backchannel.Message{msg("web", rp.URL)})
	select {
	case tok := <-got:
		if tok != "web" {
			t.Errorf("logout_token %q", tok)
		}
	case <-t.Context().Done():
		t.Fatal("message not delivered")
	}
}
