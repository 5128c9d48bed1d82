package store

import (
	"context"
	"time"
)

// Lease is a named lease held by one holder until ExpiresAt: the leader
// lease of the servers sharing a store, for instance.
type Lease struct {
	Name       string
	Holder     string
	AcquiredAt time.Time // when Holder took it (renewals keep it)
	ExpiresAt  time.Time
}

// LeaseStore keeps named leases. Expiry is decided with the times the
// callers pass, from their own clocks: holders' clocks must agree to within
// a small part of the lease's length.
type LeaseStore interface {
	// AcquireLease gives the lease name to holder until expires when it is
	// free, ended at now (ExpiresAt <= now) or already holder's (a renewal,
	// which keeps AcquiredAt), in one atomic statement, and returns the
	// lease as it stands afterwards: holder has it if and only if the
	// returned Holder is holder. Of concurrent callers at most one gets a
	// free lease.
	AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (*Lease, error)
	// ReleaseLease frees the lease if holder has it; otherwise it does
	// nothing, and is no error.
	ReleaseLease(ctx context.Context, name, holder string) error
	// GetLease returns ErrNotFound when the lease was never taken or was
	// released.
	GetLease(ctx context.Context, name string) (*Lease, error)
}
