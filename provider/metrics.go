package provider

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the authorization server decides.
type Metrics struct {
	Issued  *prometheus.CounterVec
	Refused *prometheus.CounterVec
	Revoked *prometheus.CounterVec
}

// NewMetrics registers the provider's metrics with reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conexor_tokens_issued_total", Help: "Access tokens issued, by grant type.",
		}, []string{"grant_type"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conexor_tokens_refused_total", Help: "Token requests refused, by grant type and OAuth error code.",
		}, []string{"grant_type", "reason"}),
		Revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conexor_tokens_revoked_total", Help: "Revocation requests, by outcome.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.Issued, m.Refused, m.Revoked)
	}
	return m
}
