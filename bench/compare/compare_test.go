package main

import (
	"regexp"
	"testing"
	"time"
)

// TestSmoke runs every workload once with tiny counts against both
// brokers: the harness works and stops by itself. It measures nothing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts two brokers")
	}
	o := options{
		runs: 1, n100: 2000, n1k: 500, e2e: 200 * time.Millisecond, e2eRate: 1000,
		runTimeout: time.Minute, targets: []string{"quill", "kfake"},
		only: regexp.MustCompile(".*"),
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
}
