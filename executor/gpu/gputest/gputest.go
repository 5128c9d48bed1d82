// Package gputest is the conformance suite of gpu.Inventory: every
// implementation (configured, NVML) runs Run with its inventory.
package gputest

import (
	"regexp"
	"testing"

	"github.com/atelier-dev/atelier/executor/gpu"
)

var typeRE = regexp.MustCompile(`^nvidia-[a-z0-9][a-z0-9-]*$|^[a-z0-9][a-z0-9-]*$`)

// Run checks inv: devices ordered by strictly ascending index from 0
// (with gaps where a GPU is left out, e.g. one in MIG mode), unique UUIDs
// where given, a normalised type, memory of at least 1 GiB, the same answer
// twice, and a source name. want, when not negative, is the number of
// GPUs expected.
func Run(t *testing.T, inv gpu.Inventory, want int) {
	t.Helper()
	devs, err := inv.Devices(t.Context())
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	if want >= 0 && len(devs) != want {
		t.Fatalf("Devices = %d GPUs, want %d", len(devs), want)
	}
	uuids := map[string]bool{}
	for i, d := range devs {
		if d.Index < i || i > 0 && d.Index <= devs[i-1].Index {
			t.Errorf("device %d has index %d after %v", i, d.Index, devs[:i])
		}
		if d.UUID != "" && uuids[d.UUID] {
			t.Errorf("device %d repeats UUID %s", i, d.UUID)
		}
		uuids[d.UUID] = true
		if !typeRE.MatchString(d.Type) {
			t.Errorf("device %d type %q is not a type name", i, d.Type)
		}
		if d.MemoryMB < 1024 {
			t.Errorf("device %d has %d MB", i, d.MemoryMB)
		}
	}
	again, err := inv.Devices(t.Context())
	if err != nil || len(again) != len(devs) {
		t.Errorf("second Devices = %d, %v", len(again), err)
	}
	if inv.Source() == "" {
		t.Error("no Source")
	}
}
