package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// metrics are the dispatcher's: attempts by result and latency in this
// process, and the queue by state read from the store at scrape time (so
// that every process reports the same, true numbers).
type metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, st store.CallbackStore, paused func() int) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atelier_callback_attempts_total",
			Help: "Callback delivery attempts by result: delivered, failed (will be retried) or dead (dead-lettered).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atelier_callback_delivery_latency_seconds",
			Help:    "Time from an event's commit to its acknowledged delivery.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atelier_callback_attempt_duration_seconds",
			Help:    "Time one callback POST took, until its reply was read.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	if reg == nil {
		return m
	}
	pausedApps := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "atelier_callback_paused_apps",
		Help: "Apps whose receiver failed repeatedly and whose deliveries this process holds back for a while.",
	}, func() float64 { return float64(paused()) })
	for _, c := range []prometheus.Collector{m.attempts, m.latency, m.duration, pausedApps, &queueCollector{st: st}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic("webhook: register metrics: " + err.Error())
			}
		}
	}
	return m
}

// attempt records one finished attempt that moved its delivery to state.
func (m *metrics) attempt(state string, took, sinceCommit time.Duration) {
	m.duration.Observe(took.Seconds())
	switch state {
	case atelier.DeliveryDelivered:
		m.attempts.WithLabelValues("delivered").Inc()
		m.latency.Observe(sinceCommit.Seconds())
	case atelier.DeliveryDead:
		m.attempts.WithLabelValues("dead").Inc()
	default:
		m.attempts.WithLabelValues("failed").Inc()
	}
}

var (
	queueDesc = prometheus.NewDesc("atelier_callback_deliveries",
		"Callback deliveries by state: queued (PENDING), in_flight, delivered (kept for the retention period) and dead.",
		[]string{"state"}, nil)
	backlogDesc = prometheus.NewDesc("atelier_callback_outbox_backlog",
		"Outbox events committed but not yet fanned out to subscriptions.", nil, nil)
)

// queueCollector reads the delivery counts from the store at scrape time.
type queueCollector struct{ st store.CallbackStore }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- backlogDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byState, backlog, err := c.st.CallbackCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for state, label := range map[string]string{
		atelier.DeliveryPending: "queued", atelier.DeliveryInFlight: "in_flight",
		atelier.DeliveryDelivered: "delivered", atelier.DeliveryDead: "dead",
	} {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(byState[state]), label)
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(backlog))
}
