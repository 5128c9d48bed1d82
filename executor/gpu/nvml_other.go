//go:build !(linux && cgo)

package gpu

import "errors"

// openNVML: without cgo (or off Linux) NVML cannot be loaded.
func openNVML() (Inventory, error) {
	return nil, errors.New("built without cgo: NVML cannot be loaded")
}
