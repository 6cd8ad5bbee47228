package scripting

import (
	"sync"
	"time"

	"github.com/dop251/goja"
)

// budgetExceeded is the interrupt value the CPU budget uses.
type budgetExceeded struct{ limit time.Duration }

// budget limits how long JavaScript may run in one slice: the stretch between two blocking points
// (a top-level evaluation, onLoginRequest, one callback). Time spent blocked in a host function
// (a directory look-up is a local activity) does not count, so pause/resume bracket those calls.
//
// It measures wall time, not instructions, because goja only offers Interrupt. That is
// nondeterministic in principle; it stays safe for replay because the limit is far above what any
// real script needs (microseconds) and replay runs with a larger limit (Config.ReplayBudget), so
// only a runaway script — which runs away on replay too — is ever interrupted.
type budget struct {
	vm *goja.Runtime

	mu        sync.Mutex
	gen       uint64 // invalidates timers of finished slices
	timer     *time.Timer
	limit     time.Duration
	remaining time.Duration
	since     time.Time
	running   bool
}

func (b *budget) start(limit time.Duration) {
	b.mu.Lock()
	b.limit, b.remaining = limit, limit
	b.mu.Unlock()
	b.resume()
}

// resume (re)arms the timer with what is left of the slice's budget.
func (b *budget) resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return
	}
	b.running = true
	b.since = time.Now()
	gen := b.gen
	limit := b.limit
	b.timer = time.AfterFunc(max(b.remaining, 0), func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.gen == gen && b.running {
			b.vm.Interrupt(budgetExceeded{limit: limit})
		}
	})
}

// pause stops the clock while a host function blocks.
func (b *budget) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return
	}
	b.running = false
	b.gen++
	b.timer.Stop()
	b.remaining -= time.Since(b.since)
}

// stop ends the slice and clears an interrupt that fired too late to matter, so the next slice
// does not start interrupted.
func (b *budget) stop() {
	b.pause()
	b.vm.ClearInterrupt()
}
