package password

import (
	"context"
	"errors"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestGateVerifies(t *testing.T) {
	g := NewGate(1)
	h, err := g.Hash(t.Context(), "correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "wrong": false} {
		ok, err := g.Verify(t.Context(), pw, h)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

// With every slot taken a caller waits: one whose context ends gets the context's error and no
// verdict, and one still waiting gets in when a slot is freed.
func TestGateBoundsAndCancels(t *testing.T) {
	g := NewGate(2)
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := g.enter(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if ok, err := g.Verify(canceled, "pw", h); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify on a full gate with a canceled context = %v, %v; want context.Canceled", ok, err)
	}
	if _, err := g.Hash(canceled, "pw", cheap); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash on a full gate with a canceled context: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		ok, err := g.Verify(t.Context(), "pw", h)
		if err == nil && !ok {
			err = errors.New("right password refused")
		}
		done <- err
	}()
	g.leave()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(g.slots); n != 1 {
		t.Errorf("%d slots taken after the waiter left, want 1 (the one still held)", n)
	}
}

func TestNewGateDefaultsToCPUs(t *testing.T) {
	if n := cap(NewGate(0).slots); n < 1 {
		t.Errorf("NewGate(0) admits %d", n)
	}
}
