package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewTask(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		spec       func() *TaskSpec
		user       string
		isDefault  bool
		wantUser   string
		wantIncr   bool
		wantServer uint32
	}{
		{"own account", validSpec, "repl", false, "repl", true, 0},
		{"default account", func() *TaskSpec {
			s := validSpec()
			s.Source.Username, s.Source.Password = "", ""
			return s
		}, "dflt", true, "dflt", true, 0},
		{"incr false kept", func() *TaskSpec { s := validSpec(); s.Incr = boolp(false); return s }, "repl", false, "repl", false, 0},
		{"server id kept", func() *TaskSpec { s := validSpec(); s.Source.ServerID = 77; return s }, "repl", false, "repl", true, 77},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec()
			task := NewTask(spec, tc.user, tc.isDefault, now)
			if task.Spec.Source.Password != "" {
				t.Error("stored spec holds the password")
			}
			if spec.Source.Password == "" && tc.name == "own account" {
				t.Error("NewTask changed the caller's spec")
			}
			if task.Spec.Source.Username != tc.wantUser || task.DefaultAccount != tc.isDefault {
				t.Errorf("username %q default %v, want %q %v", task.Spec.Source.Username, task.DefaultAccount, tc.wantUser, tc.isDefault)
			}
			if task.Spec.Incr == nil || *task.Spec.Incr != tc.wantIncr {
				t.Errorf("incr %v, want explicit %v", task.Spec.Incr, tc.wantIncr)
			}
			if task.Spec.Source.ServerID != tc.wantServer {
				t.Errorf("server id %d, want %d", task.Spec.Source.ServerID, tc.wantServer)
			}
			if task.Version != 1 || task.Desired != DesiredRunning || !task.CreatedAt.Equal(now) || !task.UpdatedAt.Equal(now) {
				t.Errorf("task %+v", task)
			}
		})
	}
}

func TestAlter(t *testing.T) {
	then := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := then.Add(time.Hour)
	stored := func(mod ...func(*Task)) *Task {
		s := validSpec()
		s.Source.ServerID = 9
		task := NewTask(s, "repl", false, then)
		task.ID = 7
		for _, m := range mod {
			m(task)
		}
		return task
	}
	body := func(mod ...func(*TaskSpec)) *TaskSpec {
		s := validSpec()
		s.Source.Username, s.Source.Password = "", ""
		for _, m := range mod {
			m(s)
		}
		return s
	}
	tests := []struct {
		name       string
		cur        *Task
		body       *TaskSpec
		code       int    // expected error code, 0 for none
		field      string // expected in the error message
		changed    bool
		creds      *Credentials
		useDefault bool
		check      func(t *testing.T, next *Task)
	}{
		{name: "same body changes nothing", cur: stored(), body: body()},
		{name: "source omitted keeps it", cur: stored(), body: body(func(s *TaskSpec) { s.Source = nil }), check: func(t *testing.T, n *Task) {
			if n.Spec.Source.Host != "db1.example.com" || n.Spec.Source.ServerID != 9 || n.Spec.Source.Username != "repl" {
				t.Errorf("source %+v", n.Spec.Source)
			}
		}},
		{name: "new topic", cur: stored(), body: body(func(s *TaskSpec) { s.Kafka.Topic = "other" }), changed: true, check: func(t *testing.T, n *Task) {
			if n.Version != 2 || !n.UpdatedAt.Equal(now) || n.Spec.Kafka.Topic != "other" {
				t.Errorf("next %+v", n)
			}
		}},
		{name: "host cannot change", cur: stored(), body: body(func(s *TaskSpec) { s.Source.Host = "db2" }), code: CodeConflict, field: "task.source"},
		{name: "port cannot change", cur: stored(), body: body(func(s *TaskSpec) { s.Source.Port = 3307 }), code: CodeConflict, field: "task.source"},
		{name: "server id cannot change", cur: stored(), body: body(func(s *TaskSpec) { s.Source.ServerID = 10 }), code: CodeConflict, field: "task.source.server_id"},
		{name: "server id repeated", cur: stored(), body: body(func(s *TaskSpec) { s.Source.ServerID = 9 })},
		{name: "incr cannot change", cur: stored(), body: body(func(s *TaskSpec) { s.Incr = boolp(false) }), code: CodeConflict, field: "task.incr"},
		{name: "incr repeated", cur: stored(), body: body(func(s *TaskSpec) { s.Incr = boolp(true) })},
		{name: "other user needs a password", cur: stored(), body: body(func(s *TaskSpec) { s.Source.Username = "bob" }), code: CodeBadRequest, field: "task.source.password"},
		{name: "same user alone", cur: stored(), body: body(func(s *TaskSpec) { s.Source.Username = "repl" })},
		{name: "rotation", cur: stored(), body: body(func(s *TaskSpec) { s.Source.Username, s.Source.Password = "repl", "new" }),
			creds: &Credentials{Username: "repl", Password: "new"}, check: func(t *testing.T, n *Task) {
				if n.Spec.Source.Password != "" {
					t.Error("stored spec holds the password")
				}
			}},
		{name: "own account ends the default one", cur: stored(func(t *Task) { t.DefaultAccount = true; t.Spec.Source.Username = "dflt" }),
			body: body(func(s *TaskSpec) { s.Source.Username, s.Source.Password = "bob", "pw" }), changed: true, creds: &Credentials{Username: "bob", Password: "pw"}},
		{name: "default account stays", cur: stored(func(t *Task) { t.DefaultAccount = true; t.Spec.Source.Username = "dflt" }), body: body(), useDefault: true},
		{name: "resources absent keep the task's", cur: stored(func(t *Task) { t.Spec.Resources = &Resources{CPU: 200} }), body: body(), check: func(t *testing.T, n *Task) {
			if n.Spec.Resources == nil || n.Spec.Resources.CPU != 200 {
				t.Errorf("resources %+v", n.Spec.Resources)
			}
		}},
		{name: "resources replaced", cur: stored(func(t *Task) { t.Spec.Resources = &Resources{CPU: 200} }), body: body(func(s *TaskSpec) { s.Resources = &Resources{MemoryMB: 128} }), changed: true, check: func(t *testing.T, n *Task) {
			if *n.Spec.Resources != (Resources{MemoryMB: 128}) {
				t.Errorf("resources %+v", n.Spec.Resources)
			}
		}},
		{name: "retention_warn_share absent keeps the task's", cur: stored(func(t *Task) { t.Spec.RetentionWarnShare = 0.5 }), body: body(), check: func(t *testing.T, n *Task) {
			if n.Spec.RetentionWarnShare != 0.5 || n.Spec.EffectiveRetentionWarnShare() != 0.5 {
				t.Errorf("retention_warn_share %v", n.Spec.RetentionWarnShare)
			}
		}},
		{name: "retention_warn_share replaced", cur: stored(func(t *Task) { t.Spec.RetentionWarnShare = 0.5 }), body: body(func(s *TaskSpec) { s.RetentionWarnShare = 0.1 }), changed: true, check: func(t *testing.T, n *Task) {
			if n.Spec.RetentionWarnShare != 0.1 {
				t.Errorf("retention_warn_share %v", n.Spec.RetentionWarnShare)
			}
		}},
		{name: "rate limit removed", cur: stored(func(t *Task) { t.Spec.RateLimit = &RateLimit{Rate: 5} }), body: body(), changed: true},
		{name: "other SASL user needs a password", cur: stored(withSASL), body: body(func(s *TaskSpec) {
			s.Kafka.SASL = &KafkaSASL{Mechanism: SASLScramSHA512, Username: "bob"}
		}), code: CodeBadRequest, field: "task.kafka.sasl.password"},
		{name: "SASL added without a password", cur: stored(), body: body(func(s *TaskSpec) {
			s.Kafka.SASL = &KafkaSASL{Mechanism: SASLScramSHA512, Username: "dts"}
		}), code: CodeBadRequest, field: "task.kafka.sasl.password"},
		{name: "other client certificate needs its key", cur: stored(withCert), body: body(func(s *TaskSpec) {
			s.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: "other cert"}
		}), code: CodeBadRequest, field: "task.kafka.tls.key_pem"},
		{name: "client certificate added without its key", cur: stored(), body: body(func(s *TaskSpec) {
			s.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: "cert"}
		}), code: CodeBadRequest, field: "task.kafka.tls.key_pem"},
		{name: "kafka secrets are not stored in the spec", cur: stored(withSASL, withCert), body: body(func(s *TaskSpec) {
			s.Kafka.SASL = &KafkaSASL{Mechanism: SASLScramSHA512, Username: "dts", Password: "new sasl"}
			s.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: "cert", KeyPEM: "new key"}
		}), check: func(t *testing.T, n *Task) {
			if n.Spec.Kafka.SASL.Password != "" || n.Spec.Kafka.TLS.KeyPEM != "" {
				t.Errorf("stored spec holds a Kafka secret: %+v %+v", n.Spec.Kafka.SASL, n.Spec.Kafka.TLS)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Alter(tc.cur, tc.body, now)
			if tc.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.code || !strings.HasPrefix(e.Message, tc.field) {
					t.Fatalf("error %v, want code %d on %s", err, tc.code, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Changed != tc.changed {
				t.Errorf("changed %v, want %v", a.Changed, tc.changed)
			}
			if !a.Changed && (a.Task.Version != tc.cur.Version || !a.Task.UpdatedAt.Equal(then)) {
				t.Errorf("unchanged task got version %d updated %s", a.Task.Version, a.Task.UpdatedAt)
			}
			if (a.Credentials == nil) != (tc.creds == nil) || a.Credentials != nil && *a.Credentials != *tc.creds {
				t.Errorf("credentials %+v, want %+v", a.Credentials, tc.creds)
			}
			if a.UseDefault != tc.useDefault || a.Task.DefaultAccount != tc.useDefault {
				t.Errorf("use default %v (task %v), want %v", a.UseDefault, a.Task.DefaultAccount, tc.useDefault)
			}
			if a.Task.Spec.Incr == nil || a.Task.ID != tc.cur.ID {
				t.Errorf("next task %+v", a.Task)
			}
			if tc.check != nil {
				tc.check(t, a.Task)
			}
		})
	}
}

func TestResourcesValidate(t *testing.T) {
	tests := []struct {
		r     Resources
		field string
	}{
		{Resources{}, ""},
		{Resources{CPU: 20, MemoryMB: 64, MemoryMaxMB: 512}, ""},
		{Resources{CPU: -1}, "task.resources.cpu"},
		{Resources{CPU: MaxCPU + 1}, "task.resources.cpu"},
		{Resources{MemoryMB: 8}, "task.resources.memory_mb"},
		{Resources{MemoryMaxMB: 8}, "task.resources.memory_max_mb"},
		{Resources{MemoryMB: 128, MemoryMaxMB: 64}, "task.resources.memory_max_mb"},
	}
	for _, tc := range tests {
		s := validSpec()
		s.Resources = &tc.r
		err := s.Validate()
		if tc.field == "" && err != nil || tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field)) {
			t.Errorf("%+v: %v, want an error on %q", tc.r, err, tc.field)
		}
	}
}

// withSASL and withCert give a stored task SASL and a client certificate (its spec, as stored,
// without their secrets).
func withSASL(t *Task) {
	t.Spec.Kafka.SASL = &KafkaSASL{Mechanism: SASLScramSHA512, Username: "dts"}
}

func withCert(t *Task) {
	t.Spec.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: "cert"}
}
