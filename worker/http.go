package worker

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler serves the worker's endpoints: /healthz (the process is up and serving; a Failed task
// is reported by /status, not by restarting the worker), /metrics and /status. The port has no
// authentication (Nomad's health check and Prometheus scrape it), so nothing it serves is
// derived from rows: /status leaves out the copy's last key and the message (see publicStatus),
// and metrics carry no row values. Keep it reachable from the cluster's network only.
func (w *Worker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(struct {
			TaskID int64        `json:"task_id"`
			Status publicStatus `json:"status"`
		}{w.cfg.TaskID, public(w.report.view())})
	})
	if w.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
