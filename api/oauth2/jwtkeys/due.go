package jwtkeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyflow/keyflow/store"
)

// RotateOlderThan rotates every configured algorithm whose current key has been signing for at
// least maxAge (scheduled rotation; the maintenance workflow calls it) and returns the
// algorithms it rotated. Another process rotating at the same moment is not an error.
func (m *Manager) RotateOlderThan(ctx context.Context, maxAge time.Duration) ([]string, error) {
	if maxAge <= 0 {
		return nil, nil
	}
	rows, err := m.store.OAuth2SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: scheduled rotation: %w", err)
	}
	now := m.now()
	var rotated []string
	for _, r := range rows {
		if r.State != store.SigningKeyCurrent || r.ActivatedAt.IsZero() || now.Sub(r.ActivatedAt) < maxAge {
			continue
		}
		if !slices.Contains(m.algs, r.Alg) {
			continue
		}
		switch err := m.Rotate(ctx, r.Alg); {
		case errors.Is(err, store.ErrConflict):
			// Rotated meanwhile by another replica.
		case err != nil:
			return rotated, err
		default:
			rotated = append(rotated, r.Alg)
		}
	}
	return rotated, nil
}
