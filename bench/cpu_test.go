package main

import (
	"os"
	"testing"
)

func TestBucketPerfScript(t *testing.T) {
	text := "keyflow \n" +
		"\t  8a66d5 golang.org/x/crypto/argon2.blamkaSSE4.abi0\n" +
		"\t  8a6418 golang.org/x/crypto/argon2.processBlocks.func1\n" +
		"\n" +
		"keyflow \n" +
		"\t  1 google.golang.org/protobuf/proto.Unmarshal\n" +
		"\t  2 go.temporal.io/server/service/history.(*handler).RecordWorkflowTaskStarted\n" +
		"\n" +
		"keyflow \n" +
		"\t  3 runtime.scanObject\n" +
		"\t  4 runtime.gcBgMarkWorker\n" +
		"keyflow \n" +
		"\t  5 golang.org/x/crypto/argon2.mixBlocksSSE2.abi0\n" +
		"keyflow \n" +
		"\t  6 [unknown]\n"
	shares, n := bucketPerfScript(text)
	if n != 5 {
		t.Fatalf("samples = %d, want 5", n)
	}
	got := map[string]float64{}
	for _, s := range shares {
		got[s.name] = s.share
	}
	want := map[string]float64{"argon2id": 0.4, "protobuf": 0.2, "GC (background and assists)": 0.2, "other": 0.2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, shares)
		}
	}
	if shares[0].name != "argon2id" {
		t.Errorf("largest first: got %v", shares)
	}
}

func TestCPUOfSelf(t *testing.T) {
	// Burn a little CPU so the process has a measurable time.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	c, err := cpuOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.self <= 0 || x == 0 {
		t.Errorf("own CPU time = %v, want > 0", c.self)
	}
}
