// Package gpu tells which GPUs a machine has: from NVIDIA's management
// library (NVML, through github.com/NVIDIA/go-nvml) when a driver is
// loaded, otherwise from the operator's configuration, so that placement
// can be tested on machines without GPUs. Both implementations pass the
// conformance suite in gpu/gputest.
package gpu

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor/driver"
)

// Inventory lists a machine's GPUs. Implementations are safe for
// concurrent use.
type Inventory interface {
	// Devices returns every GPU, ordered by index; an empty list when the
	// machine has none. Errors are wrapped with the source.
	Devices(ctx context.Context) ([]driver.GPU, error)
	// Source names where the list comes from ("nvml", "configured").
	Source() string
}

// Static is a configured inventory.
type Static []driver.GPU

var _ Inventory = Static(nil)

// Devices implements Inventory.
func (s Static) Devices(ctx context.Context) ([]driver.GPU, error) { return slices.Clone(s), nil }

// Source implements Inventory.
func (Static) Source() string { return "configured" }

var typeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ParseStatic checks a configured list: indexes 0…n-1 in order, unique
// UUIDs, a type of lowercase letters, digits and '-', and at least
// 1024 MB of memory each. Types are lowercased.
func ParseStatic(gpus []driver.GPU) (Static, error) {
	seen := map[string]bool{}
	out := make(Static, 0, len(gpus))
	for i, g := range gpus {
		g.Type = strings.ToLower(g.Type)
		switch {
		case g.Index != i:
			return nil, atelier.CodeInvalidParam.Errorf("gpus[%d]: index %d, want %d (in order from 0).", i, g.Index, i)
		case !typeRE.MatchString(g.Type):
			return nil, atelier.CodeInvalidParam.Errorf("gpus[%d]: type %q is not lowercase letters, digits and '-' (e.g. nvidia-t4).", i, g.Type)
		case g.MemoryMB < 1024:
			return nil, atelier.CodeInvalidParam.Errorf("gpus[%d]: memory_mb %d is less than 1024.", i, g.MemoryMB)
		case g.UUID != "" && seen[g.UUID]:
			return nil, atelier.CodeInvalidParam.Errorf("gpus[%d]: uuid %q is listed twice.", i, g.UUID)
		}
		seen[g.UUID] = true
		out = append(out, g)
	}
	return out, nil
}

// TypeName turns a GPU's product name into Atelier's type name, e.g.
// "Tesla T4" → "nvidia-t4", "NVIDIA H100 80GB HBM3" → "nvidia-h100-80gb-hbm3".
func TypeName(product string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(product) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	for _, p := range []string{"nvidia-", "tesla-"} {
		s = strings.TrimPrefix(s, p)
	}
	if s == "" {
		return "nvidia-gpu"
	}
	return "nvidia-" + s
}

// Detect returns NVML's inventory when the library loads and lists at
// least one GPU, else the configured one; why NVML was not used is
// returned as a note for the log.
func Detect(ctx context.Context, configured Static) (inv Inventory, note string) {
	n, err := openNVML()
	if err != nil {
		return configured, fmt.Sprintf("NVML not used: %v", err)
	}
	devs, err := n.Devices(ctx)
	if err != nil || len(devs) == 0 {
		return configured, fmt.Sprintf("NVML lists no GPU (%v)", err)
	}
	return n, ""
}
