package password

import (
	"context"
	"fmt"
	"runtime"
)

// Gate bounds how many argon2id computations run at once. Each one holds its Memory (19 MiB
// with OWASP) for its whole run, and more runs than CPUs add no throughput: without a bound a
// burst of a thousand logins would hold 19 GiB at once. Waiting callers queue in arrival order
// and give up when their context ends. A Gate is safe for concurrent use; share one per process.
type Gate struct {
	slots chan struct{}
}

// NewGate returns a gate admitting n computations at once; n ≤ 0 means runtime.GOMAXPROCS(0).
func NewGate(n int) *Gate {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// Verify is the package's Verify, run when a slot is free.
func (g *Gate) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	if err := g.enter(ctx); err != nil {
		return false, err
	}
	defer g.leave()
	return Verify(pw, encoded)
}

// Hash is the package's Hash, run when a slot is free.
func (g *Gate) Hash(ctx context.Context, pw string, p Params) (string, error) {
	if err := g.enter(ctx); err != nil {
		return "", err
	}
	defer g.leave()
	return Hash(pw, p)
}

func (g *Gate) enter(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for an argon2id slot: %w", context.Cause(ctx))
	}
}

func (g *Gate) leave() { <-g.slots }
