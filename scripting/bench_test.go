package scripting_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

func benchScript(b *testing.B, name string) string {
	b.Helper()
	src, err := os.ReadFile(filepath.Join("..", "flows", "testdata", "scripts", name))
	if err != nil {
		b.Fatal(err)
	}
	return string(src)
}

func benchSetup(script string) scripting.Setup {
	return scripting.Setup{Script: script, Steps: twoSteps(), TenantDomain: "carbon.super", ApplicationName: "app",
		Request: scripting.Request{IP: "203.0.113.9"}}
}

// BenchmarkOpen measures starting a login's script: new runtime, compile, top-level evaluation,
// onLoginRequest. It happens once per login, in the first workflow task.
func BenchmarkOpen(b *testing.B) {
	for _, name := range []string{"role-based.js", "ip-based.js", "acr-based.js"} {
		b.Run(name, func(b *testing.B) {
			setup := benchSetup(benchScript(b, name))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scripting.Open(scripting.Config{}, setup); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecision measures one script decision: a step result handed to the script, its
// onSuccess callback run (context wrapper, user object, role check, Log, executeStep) and the
// new node infused. Target: well under 1 ms.
func BenchmarkDecision(b *testing.B) {
	s, err := scripting.Open(scripting.Config{}, benchSetup(benchScript(b, "role-based.js")))
	if err != nil {
		b.Fatal(err)
	}
	n, ok := s.Next().(*scripting.StepNode)
	if !ok {
		b.Fatal("no first step")
	}
	user := &connectors.User{ID: "id-alice", Username: "alice", UserStoreDomain: "PRIMARY", IdP: "LOCAL",
		Roles: []string{"admin"}}
	res := scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: "BasicAuthenticator", IdP: "LOCAL", User: user}
	b.ReportAllocs()
	for b.Loop() {
		s.StepDone(n, res)
		if _, ok := s.Next().(*scripting.StepNode); !ok {
			b.Fatal("the callback did not schedule step 2")
		}
	}
}

// BenchmarkSessionMemory reports the heap an open login's script engine keeps (what a worker's
// workflow cache holds per login, on top of the SDK's own state).
func BenchmarkSessionMemory(b *testing.B) {
	setup := benchSetup(benchScript(b, "ip-based.js"))
	const n = 200
	keep := make([]*scripting.Session, n)
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range keep {
			s, err := scripting.Open(scripting.Config{}, setup)
			if err != nil {
				b.Fatal(err)
			}
			keep[i] = s
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/login")
		clear(keep)
	}
}
