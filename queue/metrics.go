package queue

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier/store"
)

// metrics are the client's: outcomes and run time in this process, and the
// queue's depth read from the store at scrape time (so that every process
// reports the same, true numbers).
type metrics struct {
	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, st store.QueueStore) *metrics {
	m := &metrics{
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
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.duration, &depthCollector{st: st}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic("queue: register metrics: " + err.Error())
			}
		}
	}
	return m
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
