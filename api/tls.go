package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// SourceTLS says how the worker encrypts its connections to the source, with MySQL clients'
// names for the modes (--ssl-mode).
type SourceTLS struct {
	// Mode is disabled, preferred (TLS when the server offers it, unverified; the default
	// when tls is given without a mode), required (TLS, unverified), verify_ca (the server's
	// certificate must chain to CAPEM) or verify_identity (and name the host).
	Mode string `json:"mode,omitempty"`
	// CAPEM is the PEM of the CA certificates verify_ca and verify_identity trust; empty: the
	// system's.
	CAPEM string `json:"ca_pem,omitempty"`
}

// Source TLS modes.
const (
	TLSDisabled       = "disabled"
	TLSPreferred      = "preferred"
	TLSRequired       = "required"
	TLSVerifyCA       = "verify_ca"
	TLSVerifyIdentity = "verify_identity"
)

// Verified reports whether the mode proves the server is the one meant: only then may the
// source ask for the password in a form it can read (see the worker's connection guard).
func (t *SourceTLS) Verified() bool {
	return t != nil && (t.Mode == TLSVerifyCA || t.Mode == TLSVerifyIdentity)
}

// KafkaTLS says how the worker encrypts its connections to the brokers.
type KafkaTLS struct {
	Enabled bool `json:"enabled"`
	// CAPEM is the PEM of the CA certificates to trust; empty: the system's.
	CAPEM string `json:"ca_pem,omitempty"`
	// CertPEM and KeyPEM are the client certificate and its key (mutual TLS). KeyPEM is a
	// secret: it is stored like the source password, never in the spec.
	CertPEM string `json:"cert_pem,omitempty"`
	KeyPEM  string `json:"key_pem,omitempty"`
	// KeyPEMSet is shown by GET /v1/task/:id with a client certificate: whether its key is
	// stored for the task (its value never is). Ignored on input.
	KeyPEMSet *bool `json:"key_pem_set,omitempty"`
	// ServerName is the name the brokers' certificates must carry; default the host of each
	// broker address.
	ServerName string `json:"server_name,omitempty"`
	// InsecureSkipVerify accepts any certificate: encryption without knowing who listens. Only
	// when asked, and the worker logs a warning.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// KafkaSASL is how the worker authenticates to the brokers.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `json:"mechanism"`
	Username  string `json:"username,omitempty"`
	// Password is a secret: it is stored like the source password, never in the spec.
	Password string `json:"password,omitempty"`
	// PasswordSet is shown by GET /v1/task/:id: whether the password is stored for the task (its
	// value never is). Ignored on input.
	PasswordSet *bool `json:"password_set,omitempty"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

func (t *SourceTLS) validate(field string) error {
	switch t.Mode {
	case "", TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	default:
		return FieldError(field+".mode", "unknown mode %q: use disabled, preferred, required, verify_ca or verify_identity", t.Mode)
	}
	if t.CAPEM != "" {
		if _, err := CertPool(t.CAPEM); err != nil {
			return FieldError(field+".ca_pem", "%v", err)
		}
		if !t.Verified() {
			return FieldError(field+".ca_pem", "is only used with mode verify_ca or verify_identity (mode %q does not check the server's certificate)", t.Mode)
		}
	}
	return nil
}

// validate checks the TLS settings; an alter may give cert_pem without key_pem (Alter keeps the
// stored key when the certificate is the task's).
func (t *KafkaTLS) validate(field string, alter bool) error {
	if !t.Enabled {
		if t.CAPEM != "" || t.CertPEM != "" || t.KeyPEM != "" || t.ServerName != "" || t.InsecureSkipVerify {
			return FieldError(field+".enabled", "must be true when other TLS settings are given")
		}
		return nil
	}
	if t.CAPEM != "" {
		if _, err := CertPool(t.CAPEM); err != nil {
			return FieldError(field+".ca_pem", "%v", err)
		}
	}
	switch {
	case t.CertPEM != "" && t.KeyPEM == "" && alter:
		if _, err := parseCertificate(t.CertPEM); err != nil {
			return FieldError(field+".cert_pem", "%v", err)
		}
	case t.CertPEM != "" && t.KeyPEM == "":
		return FieldError(field+".key_pem", "is required with cert_pem")
	case t.KeyPEM != "" && t.CertPEM == "":
		return FieldError(field+".cert_pem", "is required with key_pem")
	case t.CertPEM != "":
		if _, err := tls.X509KeyPair([]byte(t.CertPEM), []byte(t.KeyPEM)); err != nil {
			return FieldError(field+".cert_pem", "with key_pem is not a certificate and its key: %v", err)
		}
	}
	if t.InsecureSkipVerify && t.CAPEM != "" {
		return FieldError(field+".insecure_skip_verify", "contradicts ca_pem: remove one")
	}
	return nil
}

// validate checks the SASL settings; an alter may leave the password out (Alter keeps the
// stored one for the same user).
func (s *KafkaSASL) validate(field string, alter bool) error {
	switch s.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	case "":
		return FieldError(field+".mechanism", "is required: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	default:
		return FieldError(field+".mechanism", "unknown mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	if strings.TrimSpace(s.Username) == "" {
		if s.Password != "" {
			return FieldError(field+".username", "is required when a password is given")
		}
		return FieldError(field+".username", "is required")
	}
	if s.Password == "" && !alter {
		return FieldError(field+".password", "is required")
	}
	return nil
}

// parseCertificate parses the first certificate of a PEM text.
func parseCertificate(certPEM string) (*x509.Certificate, error) {
	for rest := []byte(certPEM); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("does not parse: %w", err)
			}
			return c, nil
		}
	}
}

// CertPool parses PEM CA certificates.
func CertPool(caPEM string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := []byte(caPEM)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return pool, nil
}
