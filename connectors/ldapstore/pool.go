package ldapstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-ldap/ldap/v3"
)

// errPoolClosed is returned by operations on a closed Client.
var errPoolClosed = errors.New("ldapstore: client closed")

// pool is a bounded set of connections bound as the service account. At most size connections
// exist at once (idle or lent); a caller waits for a free slot until its context ends.
type pool struct {
	dial func() (*ldap.Conn, error)
	sem  chan struct{} // one token per connection that may exist

	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
}

func newPool(size int, dial func() (*ldap.Conn, error)) *pool {
	return &pool{dial: dial, sem: make(chan struct{}, size)}
}

// get lends a connection: an idle one when there is one that is still open, else a new one.
// reused reports which, so a caller can retry once on a fresh connection when a reused one
// turns out to have been closed by the server.
func (p *pool) get(ctx context.Context) (conn *ldap.Conn, reused bool, err error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("ldapstore: waiting for a connection: %w", ctx.Err())
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, false, errPoolClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, true, nil
		}
		_ = c.Close()
	}
	p.mu.Unlock()
	c, err := p.dial()
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	return c, false, nil
}

// put returns a lent connection; a connection that is not healthy (a network or client-side
// error happened on it, or it is bound as someone else) is closed instead of kept.
func (p *pool) put(c *ldap.Conn, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed && !c.IsClosing() {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	<-p.sem
}

// close closes the idle connections; lent ones are closed when they come back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

// healthy reports whether a connection on which err happened can be reused: only LDAP result
// codes (the server answered) leave it in a known state; go-ldap's client-side codes (≥ 200:
// network errors, timeouts, unexpected responses) and foreign errors do not.
func healthy(err error) bool {
	if err == nil {
		return true
	}
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}
