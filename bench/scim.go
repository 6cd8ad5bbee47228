package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyflow/keyflow/store"
)

// Targets of issue 5 (SCIM at scale).
const targetSCIMFilterP99 = 20 // ms, GET /scim2/Users?filter=userName eq "…" at 100,000 users

// scimBatch is the operations per Bulk request (the server's bulk.maxOperations).
const scimBatch = 100

const scimType = "application/scim+json"

func scimUserName(i int) string { return fmt.Sprintf("scim-user-%06d", i) }

// seedResult is what seeding measured.
type seedResult struct {
	created, failed int
	attempted       int // users 0..attempted-1 were sent
	elapsed         time.Duration
	firstErr        error
}

// seedSCIM creates n users (no password: a password would cost one argon2id hash each) with SCIM
// Bulk requests of scimBatch POST operations, conc requests at a time, as the bootstrap admin over
// HTTP Basic. It stops starting requests after budget.
func seedSCIM(ctx context.Context, base string, n, conc int, budget time.Duration) seedResult {
	hc := newHTTP(conc)
	var next, created, failed atomic.Int64
	var mu sync.Mutex
	var res seedResult
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Since(start) < budget && ctx.Err() == nil {
				first := int(next.Add(scimBatch)) - scimBatch
				if first >= n {
					return
				}
				ops := make([]map[string]any, 0, scimBatch)
				for i := first; i < min(n, first+scimBatch); i++ {
					ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprintf("u%d", i),
						"data": map[string]any{
							"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
							"userName": scimUserName(i),
							"name":     map[string]string{"givenName": "Scim", "familyName": fmt.Sprintf("User %d", i)},
							"emails":   []map[string]any{{"value": scimUserName(i) + "@bench.example", "primary": true}},
						}})
				}
				ok, err := bulk(ctx, hc, base, ops)
				created.Add(int64(ok))
				failed.Add(int64(len(ops) - ok))
				if err != nil {
					mu.Lock()
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.created, res.failed = int(created.Load()), int(failed.Load())
	res.attempted = min(n, int(next.Load()))
	return res
}

// bulk sends one Bulk request and returns how many operations answered 201.
func bulk(ctx context.Context, hc *http.Client, base string, ops []map[string]any) (int, error) {
	body, err := json.Marshal(map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": ops,
	})
	if err != nil {
		return 0, err
	}
	b, err := request(ctx, hc, http.MethodPost, base+"/scim2/Bulk", scimType, string(body), http.StatusOK,
		admin{}.basic)
	if err != nil {
		return 0, err
	}
	var resp struct {
		Operations []struct {
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, fmt.Errorf("bulk response: %w", err)
	}
	ok := 0
	var first error
	for _, op := range resp.Operations {
		if op.Status == "201" {
			ok++
		} else if first == nil {
			first = fmt.Errorf("bulk operation: %s %.200s", op.Status, op.Response)
		}
	}
	return ok, first
}

// scimFigures reports the seeding and measures the userName filter at the size reached.
func scimFigures(ctx context.Context, base, dataDir string, o options, lim limits, seed seedResult) ([]result, []string, error) {
	var notes []string
	rate := result{Name: fmt.Sprintf("SCIM Bulk user creation (%d per request, %d requests at a time)", scimBatch, o.scimConc),
		Value: float64(seed.created) / seed.elapsed.Seconds(), Unit: "users/s", Higher: true}
	if seed.failed > 0 {
		rate.Note = fmt.Sprintf("%d operations failed, first: %v", seed.failed, seed.firstErr)
	}
	out := []result{rate, {Name: "SCIM users seeded", Value: float64(seed.created), Unit: "users",
		Note: fmt.Sprintf("in %.0f s", seed.elapsed.Seconds())}}
	if seed.created == 0 {
		return out, notes, fmt.Errorf("SCIM seeding created no user: %w", seed.firstErr)
	}
	st, org, err := openStore(ctx, dataDir)
	if err != nil {
		return out, notes, err
	}
	defer st.Close()
	n := seed.attempted
	if n < o.scimUsers && o.scimTopUp {
		start := time.Now()
		made, err := topUp(ctx, st, org.ID, n, o.scimUsers, o.scimConc)
		if err != nil {
			return out, notes, fmt.Errorf("store top-up: %w", err)
		}
		n = o.scimUsers
		notes = append(notes, fmt.Sprintf("SCIM Bulk stopped at %d users after %s (-scim-budget); users %d…%d were "+
			"created through package store (CreateUser, %d at a time: %d in %.0f s, %.0f users/s) so the filter runs at %d users",
			seed.attempted, o.scimBudget, seed.attempted, o.scimUsers-1, o.scimConc, made, time.Since(start).Seconds(),
			float64(made)/time.Since(start).Seconds(), o.scimUsers))
	} else if n < o.scimUsers {
		notes = append(notes, fmt.Sprintf("SCIM seeding stopped at %d of %d users after the %s budget (-scim-budget): the filter figures are at that size",
			seed.created, o.scimUsers, o.scimBudget))
	}

	// One client, one query after another: latency, not throughput. The target figure uses a
	// client-credentials bearer token (what automation uses); the same queries over HTTP Basic pay
	// one argon2id per request as well, and GET /scim2/Me (the same check and a primary-key read)
	// is the baseline the filter's own cost shows above.
	hc := newHTTP(1)
	query := func(auth func(*http.Request), d time.Duration) (reqResult, error) {
		return hammer(ctx, 1, d, func(ctx context.Context, _ int) error {
			i := rand.IntN(n)
			u := base + "/scim2/Users?" + url.Values{"filter": {fmt.Sprintf("userName eq %q", scimUserName(i))}}.Encode()
			b, err := request(ctx, hc, http.MethodGet, u, "", "", http.StatusOK, auth)
			if err != nil {
				return err
			}
			var list struct {
				TotalResults int `json:"totalResults"`
			}
			if err := json.Unmarshal(b, &list); err != nil || list.TotalResults != 1 {
				return fmt.Errorf("filter %s: want 1 result, got %.200s", scimUserName(i), b)
			}
			return nil
		})
	}
	token, err := scimToken(ctx, base, hc)
	if err != nil {
		return out, notes, fmt.Errorf("SCIM bearer token: %w", err)
	}
	filter, err := query(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, o.scimQuery)
	if err != nil {
		return out, notes, fmt.Errorf("SCIM filter: %w", err)
	}
	basicFilter, err := query(admin{}.basic, o.scimQuery/2)
	if err != nil {
		return out, notes, fmt.Errorf("SCIM filter over Basic: %w", err)
	}
	me, err := hammer(ctx, 1, o.scimQuery/2, func(ctx context.Context, _ int) error {
		_, err := request(ctx, hc, http.MethodGet, base+"/scim2/Me", "", "", http.StatusOK, admin{}.basic)
		return err
	})
	if err != nil {
		return out, notes, fmt.Errorf("SCIM /Me: %w", err)
	}
	db, err := storeFilter(ctx, st, org.ID, n, o.scimQuery)
	if err != nil {
		return out, notes, fmt.Errorf("SCIM filter in the store: %w", err)
	}
	argon := float64(lim.argon2) / float64(time.Millisecond)
	suffix := fmt.Sprintf(" at %d users (1 client)", n)
	p99 := result{Name: `SCIM GET /Users?filter=userName eq "…" p99` + suffix, Value: filter.percentile(99), Unit: "ms",
		Target: targetSCIMFilterP99,
		Note:   "a client-credentials bearer token with internal_user_mgt_list (registered through DCR)"}
	out = append(out,
		result{Name: `SCIM GET /Users?filter=userName eq "…" p50` + suffix, Value: filter.percentile(50), Unit: "ms"},
		target(p99),
		result{Name: `SCIM GET /Users?filter=userName eq "…" over HTTP Basic p50` + suffix, Value: basicFilter.percentile(50), Unit: "ms",
			Note: fmt.Sprintf("each request checks the admin's password: one argon2id (%.1f ms here)", argon)},
		result{Name: `SCIM GET /Users?filter=userName eq "…" over HTTP Basic p99` + suffix, Value: basicFilter.percentile(99), Unit: "ms"},
		result{Name: "SCIM GET /Me p50 (same Basic check, primary-key read)", Value: me.percentile(50), Unit: "ms"},
		result{Name: "SCIM GET /Me p99 (same Basic check, primary-key read)", Value: me.percentile(99), Unit: "ms"},
		result{Name: "SCIM userName eq filter in the store, p50" + suffix, Value: db.percentile(50), Unit: "ms"},
		target(result{Name: "SCIM userName eq filter in the store, p99" + suffix, Value: db.percentile(99), Unit: "ms",
			Target: targetSCIMFilterP99,
			Note: "the statements GET /scim2/Users?filter runs after authentication (count, page, claims, groups, roles), " +
				"through package store on the serve process's PostgreSQL"}),
	)
	return out, notes, nil
}

// openStore opens package store on the private PostgreSQL of the serve process with data dir
// dataDir, and finds the root organization.
func openStore(ctx context.Context, dataDir string) (*store.Store, store.Organization, error) {
	pgDir := filepath.Join(dataDir, "postgres")
	pw, err := os.ReadFile(filepath.Join(pgDir, "keyflow.password"))
	if err != nil {
		return nil, store.Organization{}, err
	}
	pid, err := os.ReadFile(filepath.Join(pgDir, "postmaster.pid"))
	if err != nil {
		return nil, store.Organization{}, err
	}
	// postmaster.pid: pid, data dir, start time, port, …
	lines := strings.Split(string(pid), "\n")
	if len(lines) < 4 {
		return nil, store.Organization{}, errors.New("postmaster.pid: no port line")
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("keyflow", strings.TrimSpace(string(pw))),
		Host: "127.0.0.1:" + strings.TrimSpace(lines[3]), Path: "/keyflow", RawQuery: "sslmode=disable"}
	st, err := store.Open(ctx, u.String())
	if err != nil {
		return nil, store.Organization{}, err
	}
	org, err := st.OrganizationByHandle(ctx, store.RootOrganizationHandle)
	if err != nil {
		st.Close()
		return nil, store.Organization{}, err
	}
	return st, org, nil
}

// topUp creates users from..to-1 as SCIM would (same claims), conc at a time, through package store.
func topUp(ctx context.Context, st *store.Store, orgID string, from, to, conc int) (int, error) {
	var next, made atomic.Int64
	next.Store(int64(from))
	var first atomic.Value
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				_, err := st.CreateUser(ctx, store.NewUser{OrgID: orgID, Domain: store.DefaultDomain, Username: scimUserName(i),
					Claims: map[string]string{
						"http://wso2.org/claims/username":     scimUserName(i),
						"http://wso2.org/claims/givenname":    "Scim",
						"http://wso2.org/claims/lastname":     fmt.Sprintf("User %d", i),
						"http://wso2.org/claims/emailaddress": scimUserName(i) + "@bench.example",
					},
					Actor: store.Actor{Type: store.ActorUser, ID: "bench"}})
				if err != nil {
					first.CompareAndSwap(nil, err)
					continue
				}
				made.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil && made.Load() < int64(to-from)*9/10 {
		return int(made.Load()), err
	}
	return int(made.Load()), nil
}

// storeFilter runs, for d, the store calls GET /scim2/Users?filter=userName eq "…" makes once the
// caller is authenticated.
func storeFilter(ctx context.Context, st *store.Store, orgID string, n int, d time.Duration) (reqResult, error) {
	return hammer(ctx, 1, d, func(ctx context.Context, _ int) error {
		name := scimUserName(rand.IntN(n))
		users, total, err := st.ListUsers(ctx, store.ListQuery{OrgID: orgID, Limit: 100,
			Filter: &store.Filter{Op: store.FilterEq, Field: "username", Value: name}})
		if err != nil {
			return err
		}
		if total != 1 || len(users) != 1 {
			return fmt.Errorf("store filter %s: %d users", name, total)
		}
		ids := []string{users[0].ID}
		if _, err := st.ClaimsOfUsers(ctx, ids); err != nil {
			return err
		}
		if _, err := st.MembershipsOfUsers(ctx, ids); err != nil {
			return err
		}
		_, err = st.RolesOfUsers(ctx, ids)
		return err
	})
}

// scimToken registers a client-credentials client allowed internal_user_mgt_list through Dynamic
// Client Registration (as the bootstrap admin over HTTP Basic) and returns an access token of it.
func scimToken(ctx context.Context, base string, hc *http.Client) (string, error) {
	id, secret, err := registerClient(ctx, hc, base,
		`{"client_name":"bench-scim","grant_types":["client_credentials"],"scope":"internal_user_mgt_list"}`)
	if err != nil {
		return "", err
	}
	b, err := request(ctx, hc, http.MethodPost, base+"/oauth2/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"client_credentials"}, "scope": {"internal_user_mgt_list"}}.Encode(), http.StatusOK,
		func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) })
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" || tok.Scope != "internal_user_mgt_list" {
		return "", fmt.Errorf("token answer %.200s", b)
	}
	return tok.AccessToken, nil
}
