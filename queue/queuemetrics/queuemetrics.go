// Package queuemetrics exports the queue's metrics to Prometheus: what the
// workers of this process did, as a queue.Observer, and the depth of the
// whole queue, read from the store at scrape time (so that every process
// reports the same, true numbers). It is apart from package queue so that
// the domain packages that use the queue stay clear of net/http.
package queuemetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// Metrics is a queue.Observer that counts outcomes and run times. It is
// safe for concurrent use.
type Metrics struct {
	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ queue.Observer = (*Metrics)(nil)

// New returns the metrics, registered with reg together with the depth
// collector over st. Registering twice with one registry is not an error.
func New(reg prometheus.Registerer, st store.QueueStore) (*Metrics, error) {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atelier_queue_items_finished_total",
			Help: "Queue items that a worker of this process ran, by kind and outcome: completed, retried, discarded, cancelled, snoozed, released (the server stopped) or lost (its lease went to another claimer).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "atelier_queue_item_duration_seconds",
			Help:    "Time a worker of this process ran one queue item.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.duration, &depthCollector{st: st}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("queuemetrics: register: %w", err)
			}
		}
	}
	return m, nil
}

// Finished counts one item's outcome and run time.
func (m *Metrics) Finished(kind, outcome string, took time.Duration) {
	m.outcomes.WithLabelValues(kind, outcome).Inc()
	m.duration.WithLabelValues(kind).Observe(took.Seconds())
}

var depthDesc = prometheus.NewDesc("atelier_queue_items",
	"Unfinished queue items by kind and state (available, scheduled, running, retryable), in the whole store.",
	[]string{"kind", "state"}, nil)

// depthCollector reads the queue's counts from the store at scrape time.
type depthCollector struct{ st store.QueueStore }

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.QueueCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	for kind, byState := range counts {
		for _, state := range []string{store.QueueAvailable, store.QueueScheduled, store.QueueRunning, store.QueueRetryable} {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(byState[state]), kind, state)
		}
	}
}
