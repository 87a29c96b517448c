package api

import "strings"

// SecretChange is what an alter does to one of a task's stored secrets (kafka.sasl.password,
// kafka.tls.key_pem).
type SecretChange int

// Secret changes.
const (
	// SecretNone: the task uses no such secret, before or after the alter.
	SecretNone SecretChange = iota
	// SecretKeep: the task still uses the secret and the body left it out: the stored one stays.
	SecretKeep
	// SecretSet: the body gives the secret: it replaces the stored one.
	SecretSet
	// SecretDrop: the task no longer uses the secret: the stored one is removed, so that no
	// later change of the spec can pick it up again.
	SecretDrop
)

// String names the change, for logs.
func (c SecretChange) String() string {
	switch c {
	case SecretKeep:
		return "keep"
	case SecretSet:
		return "set"
	case SecretDrop:
		return "drop"
	}
	return "none"
}

// Secrets returns the Kafka secrets k carries: kafka.sasl.password and kafka.tls.key_pem ("" where
// absent).
func (k *Kafka) Secrets() (saslPassword, keyPEM string) {
	if k.SASL != nil {
		saslPassword = k.SASL.Password
	}
	if k.TLS != nil {
		keyPEM = k.TLS.KeyPEM
	}
	return saslPassword, keyPEM
}

// UsesSecrets reports whether k needs secrets of the task's own to reach the brokers: a SASL
// password, or the key of a client certificate.
func (k *Kafka) UsesSecrets() bool { return k.SASL != nil || k.clientCert() != "" }

// clientCert is the client certificate TLS presents, "" without one.
func (k *Kafka) clientCert() string {
	if k.TLS == nil || !k.TLS.Enabled {
		return ""
	}
	return k.TLS.CertPEM
}

// saslChange is what an alter from cur to body (as sent) does to the SASL password. A body
// without a password keeps the stored one, for the same user only (as source.password).
func saslChange(cur, body *KafkaSASL) (SecretChange, error) {
	switch {
	case body == nil && cur == nil:
		return SecretNone, nil
	case body == nil:
		return SecretDrop, nil
	case body.Password != "":
		return SecretSet, nil
	case cur == nil:
		return 0, FieldError("task.kafka.sasl.password", "is required: the task has no SASL password to keep")
	case body.Username != cur.Username:
		return 0, FieldError("task.kafka.sasl.password", "is required to change the SASL user to %q", body.Username)
	}
	return SecretKeep, nil
}

// keyChange is what an alter from cur to body (as sent) does to the client key. A body without
// a key keeps the stored one, for the same certificate only.
func keyChange(cur, body *Kafka) (SecretChange, error) {
	was, cert := cur.clientCert(), body.clientCert()
	switch {
	case cert == "" && was == "":
		return SecretNone, nil
	case cert == "":
		return SecretDrop, nil
	case body.TLS.KeyPEM != "":
		return SecretSet, nil
	case was == "":
		return 0, FieldError("task.kafka.tls.key_pem", "is required with cert_pem: the task has no client key to keep")
	case cert != was:
		return 0, FieldError("task.kafka.tls.key_pem", "is required to change the client certificate (cert_pem)")
	}
	return SecretKeep, nil
}

// KafkaSecretsChanged reports whether the alter gives or drops a Kafka secret, which its worker
// must then be handed (with Merge).
func (a *Alteration) KafkaSecretsChanged() bool {
	changes := func(c SecretChange) bool { return c == SecretSet || c == SecretDrop }
	return changes(a.SASLPassword) || changes(a.KeyPEM)
}

// Kept names the fields whose stored values the task's credentials keep, with the account known
// (haveAccount: given in the body, or the default one) or not: what an alter must carry for
// none of them to be read.
func (a *Alteration) Kept(haveAccount bool) []string {
	var out []string
	if !haveAccount {
		out = append(out, "task.source.username", "task.source.password")
	}
	if a.SASLPassword == SecretKeep {
		out = append(out, "task.kafka.sasl.password")
	}
	if a.KeyPEM == SecretKeep {
		out = append(out, "task.kafka.tls.key_pem")
	}
	return out
}

// Merge returns the credentials of the altered task's worker: account (the body's or the
// default one; nil keeps the stored one), with the Kafka secrets the body gives, the stored ones
// it keeps, and none that the task no longer uses. stored is what is kept for the task (nil:
// nothing). Something to keep that is not stored is a -400 naming what to send.
func (a *Alteration) Merge(account, stored *Credentials) (*Credentials, error) {
	var s Credentials
	if stored != nil {
		s = *stored
	}
	c := Credentials{Username: s.Username, Password: s.Password}
	if account != nil {
		c.Username, c.Password = account.Username, account.Password
	}
	var missing []string
	if c.Username == "" {
		missing = append(missing, "task.source.username", "task.source.password")
	}
	c.KafkaSASLPassword = pick(a.SASLPassword, a.saslPassword, s.KafkaSASLPassword, "task.kafka.sasl.password", &missing)
	c.KafkaKeyPEM = pick(a.KeyPEM, a.keyPEM, s.KafkaKeyPEM, "task.kafka.tls.key_pem", &missing)
	if len(missing) > 0 {
		return nil, FieldError(missing[0], "is required: task %d has none stored to keep; send %s with the alter", a.Task.ID, strings.Join(missing, ", "))
	}
	return &c, nil
}

// pick is one secret after an alter: given, stored, or none; a secret to keep that is not
// stored is added to missing.
func pick(c SecretChange, given, stored, field string, missing *[]string) string {
	switch c {
	case SecretSet:
		return given
	case SecretKeep:
		if stored == "" {
			*missing = append(*missing, field)
		}
		return stored
	}
	return ""
}

// MarkSecrets marks on s, a stored spec as GET /v1/task/:id returns it, which of the secrets
// it uses are stored for the task (stored, nil: none), without their values:
// source.password_set, kafka.sasl.password_set and, with a client certificate,
// kafka.tls.key_pem_set.
func (s *TaskSpec) MarkSecrets(stored *Credentials) {
	var c Credentials
	if stored != nil {
		c = *stored
	}
	isSet := func(v string) *bool { b := v != ""; return &b }
	if s.Source != nil {
		s.Source.PasswordSet = isSet(c.Password)
	}
	if s.Kafka.SASL != nil {
		s.Kafka.SASL.PasswordSet = isSet(c.KafkaSASLPassword)
	}
	if s.Kafka.clientCert() != "" {
		s.Kafka.TLS.KeyPEMSet = isSet(c.KafkaKeyPEM)
	}
}
