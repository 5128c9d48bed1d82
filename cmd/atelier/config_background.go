package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BackgroundConfig holds the settings of the durable queue, the leader
// lease and the garbage collector, all from the environment
// (docs/operations.md, "Background work"). Zero values take the queue,
// leader and gc packages' defaults.
type BackgroundConfig struct {
	QueueWorkers       int           // ATELIER_QUEUE_WORKERS: queue items run at once per server, default 8
	QueueLease         time.Duration // ATELIER_QUEUE_LEASE: how long a claim holds an item without renewal, default 2m
	LeaderTTL          time.Duration // ATELIER_LEADER_TTL: how long the leader lease lasts without renewal, default 30s
	GCInterval         time.Duration // ATELIER_GC_INTERVAL: period of the garbage collector's passes, default 10m
	RetentionQueue     time.Duration // ATELIER_RETENTION_QUEUE: completed and cancelled queue items kept, default 24h
	RetentionQueueDead time.Duration // ATELIER_RETENTION_QUEUE_DEAD: discarded (dead) queue items kept, default 168h
}

// backgroundFromEnv reads the background variables and the ones that did
// not parse.
func backgroundFromEnv(getenv func(string) string) (BackgroundConfig, []error) {
	var c BackgroundConfig
	var errs []error
	if v := getenv("ATELIER_QUEUE_WORKERS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("ATELIER_QUEUE_WORKERS: %q is not a whole number of 1 or more", v))
		}
		c.QueueWorkers = n
	}
	for _, dv := range []struct {
		name string
		dst  *time.Duration
	}{
		{"ATELIER_QUEUE_LEASE", &c.QueueLease},
		{"ATELIER_LEADER_TTL", &c.LeaderTTL},
		{"ATELIER_GC_INTERVAL", &c.GCInterval},
		{"ATELIER_RETENTION_QUEUE", &c.RetentionQueue},
		{"ATELIER_RETENTION_QUEUE_DEAD", &c.RetentionQueueDead},
	} {
		if v := getenv(dv.name); v != "" {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive Go duration such as 5m", dv.name, v))
				continue
			}
			*dv.dst = d
		}
	}
	return c, errs
}

// validate reports settings that parse but make no sense.
func (c BackgroundConfig) validate() []error {
	var errs []error
	atLeast := func(name string, d, lo time.Duration) {
		if d > 0 && d < lo {
			errs = append(errs, fmt.Errorf("%s: at least %s, not %s", name, lo, d))
		}
	}
	atLeast("ATELIER_QUEUE_LEASE", c.QueueLease, 3*time.Second)
	atLeast("ATELIER_LEADER_TTL", c.LeaderTTL, 3*time.Second)
	atLeast("ATELIER_GC_INTERVAL", c.GCInterval, time.Second)
	atLeast("ATELIER_RETENTION_QUEUE", c.RetentionQueue, time.Minute)
	atLeast("ATELIER_RETENTION_QUEUE_DEAD", c.RetentionQueueDead, time.Minute)
	return errs
}
