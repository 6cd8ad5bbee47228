package authn

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/keyflow/keyflow/flows"
)

// Temporal implements Logins with the flows client helpers. The client must be dialed with the
// payload codec (flows/temporalx): submissions carry passwords.
//
// It remembers, for a while, the state of the logins this replica started, so that a login that
// ends on the replica that started it needs no DescribeWorkflowExecution to find its state; on
// another replica, State reads the workflow's memo as before.
type Temporal struct {
	Client    client.Client
	TaskQueue string

	states stateCache
}

var _ Logins = (*Temporal)(nil)

// Start implements Logins.
func (t *Temporal) Start(ctx context.Context, in flows.LoginInput, flowID string, state *LoginState) (flows.View, error) {
	v, err := flows.StartLoginWithState(ctx, t.Client, t.TaskQueue, in, flowID, state)
	if err == nil && state != nil {
		t.states.put(flowID, state)
	}
	return v, err
}

// View implements Logins.
func (t *Temporal) View(ctx context.Context, flowID string) (flows.View, error) {
	return flows.CurrentLoginView(ctx, t.Client, flowID)
}

// Submit implements Logins.
func (t *Temporal) Submit(ctx context.Context, flowID string, sub flows.Submission) (flows.View, error) {
	return flows.SubmitLogin(ctx, t.Client, flowID, sub)
}

// State implements Logins.
func (t *Temporal) State(ctx context.Context, flowID string) (*LoginState, error) {
	if st, ok := t.states.get(flowID); ok {
		return st, nil
	}
	var st LoginState
	if err := flows.LoginState(ctx, t.Client, flowID, &st); err != nil {
		return nil, err
	}
	if st.Protocol == "" {
		return nil, errors.New("authn: login holds no front-end state")
	}
	return &st, nil
}

// Bounds of the state cache: a login's state is kept for stateCacheTTL (longer than a login may
// stay idle) and at most stateCacheSize of them (about 1 KB each).
const (
	stateCacheTTL  = time.Hour
	stateCacheSize = 10000
)

// stateCache maps flow ids to the JSON of their LoginState (a fresh copy for each reader).
type stateCache struct {
	mu      sync.Mutex
	entries map[string]stateEntry
}

type stateEntry struct {
	state   []byte
	expires time.Time
}

func (c *stateCache) put(flowID string, st *LoginState) {
	b, err := json.Marshal(st)
	if err != nil {
		return // State falls back to the memo
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]stateEntry{}
	}
	if len(c.entries) >= stateCacheSize {
		for id, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, id)
			}
		}
		for id := range c.entries {
			if len(c.entries) < stateCacheSize {
				break
			}
			delete(c.entries, id) // an arbitrary one: its State reads the memo
		}
	}
	c.entries[flowID] = stateEntry{state: b, expires: now.Add(stateCacheTTL)}
}

func (c *stateCache) get(flowID string) (*LoginState, bool) {
	c.mu.Lock()
	e, ok := c.entries[flowID]
	c.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	var st LoginState
	if err := json.Unmarshal(e.state, &st); err != nil || st.Protocol == "" {
		return nil, false
	}
	return &st, true
}
