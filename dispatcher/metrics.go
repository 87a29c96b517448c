package dispatcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"github.com/dtsrepl/dts/api"
)

// metrics are the dispatcher's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	tasks    *prometheus.GaugeVec
	handler  fiber.Handler
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dts_dispatcher_requests_total", Help: "API requests by route and envelope code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dts_dispatcher_request_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"route"}),
		tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dts_dispatcher_tasks", Help: "Tasks by state, as of the reconciler's last pass (on the leading dispatcher).",
		}, []string{"state"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.tasks, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return m
}

// observe bounds, counts, times and logs every request. It renders errors itself so the
// envelope code is known when it counts.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	err := c.Next()
	if err != nil {
		err = s.errorHandler(c, err)
	}
	route := "unmatched"
	if r := c.Route(); r != nil && r.Path != "/" {
		route = c.Method() + " " + r.Path
	}
	s.record(c.Context(), route, start)
	return err
}

// record counts, times and logs one answered request, with its trace id. Health checks and
// scrapes that succeed are logged at debug level only: they come every few seconds.
func (s *Server) record(fctx *fasthttp.RequestCtx, route string, start time.Time) {
	took := time.Since(start)
	code := string(fctx.Response.Header.Peek(api.StatusHeader))
	s.metrics.requests.WithLabelValues(route, code).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(took.Seconds())
	level := slog.LevelInfo
	if code == "0" || code == "" {
		if p := requestPath(&fctx.Request.Header); isPublic(p) {
			level = slog.LevelDebug
		}
	}
	s.log.Log(context.Background(), level, "request", "method", string(fctx.Method()), "path", string(fctx.URI().PathOriginal()),
		"code", code, "status", fctx.Response.StatusCode(), "trace_id", traceID(fctx), "took", took.Round(time.Microsecond), "remote", fctx.RemoteAddr().String())
}

func (m *metrics) observeStates(counts map[api.State]int) {
	for _, st := range []api.State{api.StatePending, api.StateSnapshotting, api.StateRunning, api.StateFailed, api.StateStopped} {
		m.tasks.WithLabelValues(string(st)).Set(float64(counts[st]))
	}
}
