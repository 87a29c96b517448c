package nomad

import (
	"context"
	"errors"
	"fmt"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
)

// Credentials reads the credentials kept for task id in its Nomad Variable, so that the
// dispatcher's checks of an existing task (an alter's precheck, a consistency check) log in as
// its worker does, an alter that keeps some secrets writes them back with the new ones, and GET
// says which are set. A task without a Variable has none: nil, nil. The dispatcher's token
// needs read on nomad/jobs/dts-task-*, beside the write it has.
func (l *Launcher) Credentials(ctx context.Context, id int64) (*api.Credentials, error) {
	v, _, err := l.cfg.Client.Variables().Read(VariablePath(id), l.query(ctx))
	if errors.Is(err, nomadapi.ErrVariablePathNotFound) || err == nil && v == nil {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("read variable of task %d", id), err)
	}
	return &api.Credentials{
		Username:          v.Items[itemUsername],
		Password:          v.Items[itemPassword],
		KafkaSASLPassword: v.Items[itemKafkaSASLPassword],
		KafkaKeyPEM:       v.Items[itemKafkaKeyPEM],
	}, nil
}
