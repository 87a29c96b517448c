package api

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// NewTask is what a submit of spec stores: the spec without its password, with the username of
// the account the worker will log in with (the dispatcher's default account's when the spec gave
// none: defaultAccount) and incr made explicit, so that a stored task never depends on the
// defaults of the version that reads it. The task is version 1 and should run.
func NewTask(spec *TaskSpec, username string, defaultAccount bool, now time.Time) *Task {
	stored := spec.Redacted()
	if stored.Source != nil {
		stored.Source.Username = username
	}
	incr := spec.IsIncr()
	stored.Incr = &incr
	return &Task{Spec: *stored, Version: 1, Desired: DesiredRunning, DefaultAccount: defaultAccount, CreatedAt: now, UpdatedAt: now}
}

// Alteration is the outcome of an alter: what to store and what to hand the launcher.
type Alteration struct {
	// Task is the task to store (a copy of the current one with the merged spec).
	Task *Task
	// Changed says whether Task differs from the current task; it then has the next version.
	Changed bool
	// Credentials is the account the alter's body gave, to be handed to the worker (a rotation,
	// or the repair of a task without one); nil when it gave none.
	Credentials *Credentials
	// UseDefault says that the task logs in with the dispatcher's default account, which the
	// caller must check against its allow-list and hand to the launcher again.
	UseDefault bool
	// SASLPassword and KeyPEM say what the alter does to the task's Kafka secrets; Merge makes
	// the credentials its worker gets.
	SASLPassword, KeyPEM SecretChange
	// saslPassword and keyPEM are the Kafka secrets the body gives.
	saslPassword, keyPEM string
}

// Alter merges an alter body into the stored task cur. The body replaces kafka, filters and
// rate_limit. source and incr may be omitted or repeated, never changed (-409): source.host,
// source.port and source.server_id stay; a username with a password is a new account (and ends
// the use of the default one); a username alone must be the current one. resources and
// retention_warn_share absent keep the task's. The Kafka secrets follow the same rule:
// kafka.sasl without a password keeps the stored one for the same user, kafka.tls with the
// task's cert_pem and no key_pem keeps the stored key, and a body that drops kafka.sasl or the
// client certificate drops its secret. The body must have passed ValidateAlter.
func Alter(cur *Task, body *TaskSpec, now time.Time) (*Alteration, error) {
	next := body.Redacted()
	out := &Alteration{UseDefault: cur.DefaultAccount}
	var err error
	if out.SASLPassword, err = saslChange(cur.Spec.Kafka.SASL, body.Kafka.SASL); err != nil {
		return nil, err
	}
	if out.KeyPEM, err = keyChange(&cur.Spec.Kafka, &body.Kafka); err != nil {
		return nil, err
	}
	out.saslPassword, out.keyPEM = body.Kafka.Secrets()
	if body.Source != nil {
		old := cur.Spec.Source
		if old == nil || body.Source.Host != old.Host || body.Source.Port != old.Port {
			return nil, Errorf(CodeConflict, "task.source: a task's source cannot change (it is %s); submit a new task for another server", sourceAddr(old))
		}
		if body.Source.ServerID != 0 && body.Source.ServerID != old.ServerID {
			return nil, Errorf(CodeConflict, "task.source.server_id: cannot change")
		}
		if body.Source.Username != "" && body.Source.Password == "" && body.Source.Username != old.Username {
			return nil, FieldError("task.source.password", "is required to change the source account to %q", body.Source.Username)
		}
		if body.Source.Username != "" && body.Source.Password != "" {
			out.Credentials = &Credentials{Username: body.Source.Username, Password: body.Source.Password}
			next.Source.Username = body.Source.Username
			out.UseDefault = false
		} else {
			next.Source.Username = old.Username
		}
		next.Source.ServerID = old.ServerID
	} else {
		next.Source = cur.Spec.Source
	}
	if body.Incr != nil && *body.Incr != cur.Spec.IsIncr() {
		return nil, Errorf(CodeConflict, "task.incr: cannot change (it is %v); submit a new task to copy the tables again", cur.Spec.IsIncr())
	}
	incr := cur.Spec.IsIncr()
	next.Incr = &incr
	if next.Resources == nil {
		next.Resources = cur.Spec.Resources
	}
	if next.RetentionWarnShare == 0 {
		next.RetentionWarnShare = cur.Spec.RetentionWarnShare
	}

	t := *cur
	t.Spec = *next
	t.DefaultAccount = out.UseDefault
	out.Changed = !cur.Spec.Equal(next) || cur.DefaultAccount != out.UseDefault
	if out.Changed {
		t.Version = cur.Version + 1
		t.UpdatedAt = now
	}
	out.Task = &t
	return out, nil
}

func sourceAddr(s *Source) string {
	if s == nil {
		return "not set"
	}
	return s.Addr()
}

// IdempotencyKeyHeader is the submit request header that makes a retry safe: a submit with the
// key of an earlier one answers with that task instead of making a second.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 255

// IdempotencyKeyHash is what is stored of a client's idempotency key: fixed length and safe in
// a Consul key whatever the client sent, and not the key itself, which a client may have made
// from data of its own.
func IdempotencyKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
