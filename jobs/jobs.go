// Package jobs names what the task launchers share. A launcher runs one worker per task:
// jobs/nomad registers a Nomad job per task, jobs/local supervises workers inside the `dts dev`
// process. The dispatcher declares the Launcher interface they implement.
package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors launchers return; the dispatcher maps them to envelope codes, so callers test them
// with errors.Is.
var (
	// ErrUnavailable wraps errors reaching the scheduler or a worker in time (Nomad down,
	// timeouts, a worker that does not stop): -503.
	ErrUnavailable = errors.New("scheduler unavailable")
	// ErrNoCredentials: the task has no stored source account, so its worker cannot log in; an
	// alter with source.username and source.password stores one: -409.
	ErrNoCredentials = errors.New("no source credentials are stored for the task")
	// ErrConflict: the task is in a state that does not allow the operation now, such as another
	// operation on it still in progress: -409.
	ErrConflict = errors.New("conflicting operation")
	// ErrRefused: the scheduler refused a request (permissions, a job it does not accept). The
	// scheduler's reason is shown: -500.
	ErrRefused = errors.New("the scheduler refused the request")
)

// StopTimeoutError is a worker that did not stop within its bound. It is ErrUnavailable (-503):
// the task's worker did not answer in time.
type StopTimeoutError struct {
	TaskID int64
	Waited time.Duration
	// LastReport is what the launcher last knew of the worker, such as its last error.
	LastReport string
}

// Error names the task, the bound and the last report, for the operator.
func (e *StopTimeoutError) Error() string {
	msg := fmt.Sprintf("the worker of task %d did not stop within %s and is still running", e.TaskID, e.Waited)
	if e.LastReport != "" {
		msg += "; it last reported: " + e.LastReport
	}
	return msg
}

// Is makes a StopTimeoutError match ErrUnavailable.
func (e *StopTimeoutError) Is(target error) bool { return target == ErrUnavailable }

// The environment through which a launcher hands a worker its credentials (api.Credentials):
// jobs/nomad's template renders them from the task's Variable, and `dts worker` reads them. Each
// may also be given base64-encoded under its name with EnvBase64Suffix, which is what the
// template writes, so that any character of a password or a PEM survives an env file.
const (
	EnvSourceUser     = "DTS_SOURCE_USER"
	EnvSourcePassword = "DTS_SOURCE_PASSWORD"
	// EnvKafkaSASLPassword is kafka.sasl.password; EnvKafkaKeyPEM is kafka.tls.key_pem.
	EnvKafkaSASLPassword = "DTS_KAFKA_SASL_PASSWORD"
	EnvKafkaKeyPEM       = "DTS_KAFKA_KEY_PEM"
	EnvBase64Suffix      = "_B64"
)

// EnvStopTimeout is the worker's stop budget (`dts worker --stop-timeout`), which a launcher
// derives from how long it waits for a worker to stop before it kills it (StopBudget).
const EnvStopTimeout = "DTS_STOP_TIMEOUT"

// StopBudget is the stop budget of a worker that is killed killTimeout after it is asked to
// stop: three quarters of it, so that everything a stop does (waiting for Kafka to acknowledge
// what is in flight, saving the checkpoint, releasing the lock) ends before the kill, with the
// rest left for the process to exit and for a scheduler that is slow to count.
func StopBudget(killTimeout time.Duration) time.Duration { return killTimeout * 3 / 4 }

// Held is what a launcher keeps for one task, as its Inventory reports it to the dispatcher's
// reconciler: a job (registered to run, or stopped) and the task's credentials.
type Held struct {
	// Job: the launcher has a job (or supervisor) for the task; Running: it is meant to run (a
	// stopped job is a Job that is not Running).
	Job, Running bool
	// Credentials: the task's credentials are stored where its worker reads them.
	Credentials bool
	// Meta is the job's metadata, which the launcher compares with the task (Current).
	Meta map[string]string
}

// JobPrefix starts the name of every task's job.
const JobPrefix = "dts-task-"

// JobID is the name of task id's job, "dts-task-<id>".
func JobID(id int64) string { return JobPrefix + strconv.FormatInt(id, 10) }

// TaskID parses a job name made by JobID.
func TaskID(jobID string) (int64, error) {
	s, ok := strings.CutPrefix(jobID, JobPrefix)
	if !ok {
		return 0, fmt.Errorf("job %q is not a dts task job", jobID)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("job %q is not a dts task job", jobID)
	}
	return id, nil
}
