package monitor

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/lvs"
)

// Metrics are the monitor's Prometheus metrics: check results and
// latencies, real-server, quorum and sorry-server state and its changes,
// kernel operations, and (with an IPVS lister) the IPVS counters of every
// service and real server, which node_exporter's ipvs collector would
// otherwise export.
type Metrics struct {
	reg *prometheus.Registry

	checks      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastLatency *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	changes     *prometheus.CounterVec
	quorum      *prometheus.GaugeVec
	sorry       *prometheus.GaugeVec
	ops         *prometheus.CounterVec
}

// IPVSLister is what the IPVS collector reads: every service and its
// destinations with their counters.
type IPVSLister interface {
	Services(ctx context.Context) ([]lvs.Service, error)
	Destinations(ctx context.Context, k lvs.ServiceKey) ([]lvs.Destination, error)
}

// NewMetrics registers the monitor's metrics, the Go runtime's and the
// process's, and, when kernel is not nil, the IPVS counters read from it
// at each scrape.
func NewMetrics(kernel IPVSLister, log *slog.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "checks_total",
			Help: "Health checks completed, by virtual server block, real server, checker and result (ok or fail).",
		}, []string{"virtual_server", "real_server", "check", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "check_duration_seconds",
			Help:    "Latency of health checks, by checker.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check"}),
		lastLatency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "check_last_duration_seconds",
			Help: "Latency of the last health check of each real server and checker.",
		}, []string{"virtual_server", "real_server", "check"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "real_server_up",
			Help: "1 when the real server passes its checks, 0 when it fails them.",
		}, []string{"service", "real_server"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "state_changes_total",
			Help: "Policy events: real server up or down, quorum up or down, sorry server in or out.",
		}, []string{"service", "event"}),
		quorum: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "quorum_up",
			Help: "1 when the service is in quorum.",
		}, []string{"service"}),
		sorry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "sorry_server_active",
			Help: "1 when the service's sorry server is in use.",
		}, []string{"service"}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lvsctl", Subsystem: "monitor", Name: "ipvs_operations_total",
			Help: "IPVS operations the monitor performed, by kind and result (ok or error).",
		}, []string{"op", "result"}),
	}
	reg.MustRegister(m.checks, m.duration, m.lastLatency, m.up, m.changes, m.quorum, m.sorry, m.ops,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if kernel != nil {
		reg.MustRegister(newIPVSCollector(kernel, log))
	}
	return m
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// checkObserver returns the function that records one check's result.
func (m *Metrics) checkObserver(block, server string, kind check.Kind) func(check.Result) {
	ok := m.checks.WithLabelValues(block, server, string(kind), "ok")
	fail := m.checks.WithLabelValues(block, server, string(kind), "fail")
	hist := m.duration.WithLabelValues(string(kind))
	last := m.lastLatency.WithLabelValues(block, server, string(kind))
	return func(r check.Result) {
		if r.OK {
			ok.Inc()
		} else {
			fail.Inc()
		}
		s := r.Latency.Seconds()
		hist.Observe(s)
		last.Set(s)
	}
}

// forget deletes the series of what a reload from old to new removed:
// checks, real servers and services, so that a scrape no longer shows
// them. A series another check still feeds (a real server with two
// checkers of one kind, one of them removed) stays.
func (m *Metrics) forget(old, new *Config, oldRefs, newRefs map[string]jobRef) {
	type checkSeries struct {
		block, server string
		kind          check.Kind
	}
	kept := make(map[checkSeries]bool, len(newRefs))
	for _, r := range newRefs {
		kept[checkSeries{r.block, r.rs.String(), r.kind}] = true
	}
	for _, r := range oldRefs {
		cs := checkSeries{r.block, r.rs.String(), r.kind}
		if kept[cs] {
			continue
		}
		kept[cs] = true // once
		m.checks.DeletePartialMatch(prometheus.Labels{"virtual_server": cs.block, "real_server": cs.server, "check": string(cs.kind)})
		m.lastLatency.DeleteLabelValues(cs.block, cs.server, string(cs.kind))
	}
	newServers := make(map[string]map[string]bool)
	for _, b := range new.Blocks {
		for _, vs := range b.Services {
			rss := make(map[string]bool, len(vs.RealServers))
			for _, rs := range vs.RealServers {
				rss[check.KeyOf(rs.Destination).String()] = true
			}
			newServers[serviceName(vs.Key())] = rss
		}
	}
	for _, b := range old.Blocks {
		for _, vs := range b.Services {
			name := serviceName(vs.Key())
			rss, kept := newServers[name]
			if !kept {
				m.up.DeletePartialMatch(prometheus.Labels{"service": name})
				m.changes.DeletePartialMatch(prometheus.Labels{"service": name})
				m.quorum.DeleteLabelValues(name)
				m.sorry.DeleteLabelValues(name)
				continue
			}
			for _, rs := range vs.RealServers {
				if k := check.KeyOf(rs.Destination).String(); !rss[k] {
					m.up.DeleteLabelValues(name, k)
				}
			}
		}
	}
}

func (m *Metrics) service(_ string, vs check.VirtualService, d check.Decision, health map[check.DestKey]check.Health) {
	name := serviceName(vs.Key())
	for _, rs := range vs.RealServers {
		k := check.KeyOf(rs.Destination)
		m.up.WithLabelValues(name, k.String()).Set(b2f(health[k].Up))
	}
	m.quorum.WithLabelValues(name).Set(b2f(d.State.QuorumUp))
	if vs.Sorry != nil {
		m.sorry.WithLabelValues(name).Set(b2f(!d.State.QuorumUp))
	}
}

func (m *Metrics) event(_ string, e check.PolicyEvent) {
	m.changes.WithLabelValues(serviceName(e.Service), eventName(e.Kind)).Inc()
}

func (m *Metrics) op(k lvs.OpKind, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.ops.WithLabelValues(k.String(), result).Inc()
}

func eventName(k check.PolicyEventKind) string {
	switch k {
	case check.RealServerUp:
		return "real_server_up"
	case check.RealServerDown:
		return "real_server_down"
	case check.QuorumUp:
		return "quorum_up"
	case check.QuorumDown:
		return "quorum_down"
	case check.SorryIn:
		return "sorry_in"
	case check.SorryOut:
		return "sorry_out"
	}
	return "other"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observer returns the function the scheduler gives every result of the
// check c of rs, or nil without metrics.
func (m *Monitor) observer(b *Block, rs RealServer, c Check) func(check.Result) {
	if m.o.Metrics == nil {
		return nil
	}
	return m.o.Metrics.checkObserver(b.Name, rs.Key.String(), c.Kind)
}

// ipvsCollector exports the kernel's IPVS counters at each scrape, with
// the label names of node_exporter's ipvs collector (local_address,
// local_port, local_mark, proto, remote_address, remote_port) so that its
// dashboards carry over.
type ipvsCollector struct {
	k   IPVSLister
	log *slog.Logger

	svcConns, svcInPkts, svcOutPkts, svcInBytes, svcOutBytes *prometheus.Desc
	conns, inPkts, outPkts, inBytes, outBytes                *prometheus.Desc
	active, inactive, weight                                 *prometheus.Desc
	scrapeErr                                                *prometheus.Desc
}

func newIPVSCollector(k IPVSLister, log *slog.Logger) *ipvsCollector {
	svc := []string{"local_address", "local_port", "local_mark", "proto"}
	dst := append(append([]string{}, svc...), "remote_address", "remote_port")
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("lvsctl_ipvs_"+name, help, labels, nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ipvsCollector{
		k: k, log: log,
		svcConns:    d("service_connections_total", "Connections scheduled by the virtual service.", svc),
		svcInPkts:   d("service_incoming_packets_total", "Incoming packets of the virtual service.", svc),
		svcOutPkts:  d("service_outgoing_packets_total", "Outgoing packets of the virtual service.", svc),
		svcInBytes:  d("service_incoming_bytes_total", "Incoming bytes of the virtual service.", svc),
		svcOutBytes: d("service_outgoing_bytes_total", "Outgoing bytes of the virtual service.", svc),
		conns:       d("backend_connections_total", "Connections scheduled to the real server.", dst),
		inPkts:      d("backend_incoming_packets_total", "Incoming packets forwarded to the real server.", dst),
		outPkts:     d("backend_outgoing_packets_total", "Outgoing packets from the real server.", dst),
		inBytes:     d("backend_incoming_bytes_total", "Incoming bytes forwarded to the real server.", dst),
		outBytes:    d("backend_outgoing_bytes_total", "Outgoing bytes from the real server.", dst),
		active:      d("backend_connections_active", "Active connections to the real server.", dst),
		inactive:    d("backend_connections_inactive", "Inactive connections to the real server.", dst),
		weight:      d("backend_weight", "Weight of the real server.", dst),
		scrapeErr:   d("scrape_error", "1 when the IPVS table could not be read at this scrape.", nil),
	}
}

func (c *ipvsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.svcConns, c.svcInPkts, c.svcOutPkts, c.svcInBytes, c.svcOutBytes,
		c.conns, c.inPkts, c.outPkts, c.inBytes, c.outBytes, c.active, c.inactive, c.weight, c.scrapeErr} {
		ch <- d
	}
}

func (c *ipvsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed := 0.0
	defer func() { ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, failed) }()
	svcs, err := c.k.Services(ctx)
	if err != nil {
		c.log.Warn("metrics: list IPVS services", "err", err)
		failed = 1
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels []string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels []string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range svcs {
		addr, port, mark := "", "0", ""
		if s.FWMark != 0 {
			mark = strconv.FormatUint(uint64(s.FWMark), 10)
		} else {
			addr, port = s.Address.String(), strconv.Itoa(int(s.Port))
		}
		proto := s.Protocol.String()
		sl := []string{addr, port, mark, proto}
		counter(c.svcConns, s.Stats.Conns, sl)
		counter(c.svcInPkts, s.Stats.InPkts, sl)
		counter(c.svcOutPkts, s.Stats.OutPkts, sl)
		counter(c.svcInBytes, s.Stats.InBytes, sl)
		counter(c.svcOutBytes, s.Stats.OutBytes, sl)
		dests, err := c.k.Destinations(ctx, s.Key())
		if err != nil {
			c.log.Warn("metrics: list IPVS destinations", "service", s.String(), "err", err)
			failed = 1
			continue
		}
		for _, d := range dests {
			dl := []string{addr, port, mark, proto, d.Address.String(), strconv.Itoa(int(d.Port))}
			counter(c.conns, d.Stats.Conns, dl)
			counter(c.inPkts, d.Stats.InPkts, dl)
			counter(c.outPkts, d.Stats.OutPkts, dl)
			counter(c.inBytes, d.Stats.InBytes, dl)
			counter(c.outBytes, d.Stats.OutBytes, dl)
			gauge(c.active, float64(d.ActiveConns), dl)
			gauge(c.inactive, float64(d.InactiveConns), dl)
			gauge(c.weight, float64(d.Weight), dl)
		}
	}
}
