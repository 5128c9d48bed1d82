//go:build !linux

package workload

const unixNoFollow = 0
