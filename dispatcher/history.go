package dispatcher

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/dtsrepl/dts/api"
)

// History is kept in the task record itself (api.Task.History), so that both stores keep it
// with the spec, written in the same compare-and-set as the version it describes: no store
// change, and no history entry without its version or the other way round.

// firstRevision is the history of a submitted task.
func firstRevision(at time.Time, forced bool) []api.Revision {
	return []api.Revision{{Version: 1, At: at, Action: "submit", Forced: forced}}
}

// nextRevision appends the revision of an alter from cur to next (next.Version set), after
// recording where the worker applied cur's versions so far (st, may be nil).
func nextRevision(cur, next *api.Task, st *api.Status, forced bool) []api.Revision {
	h := slices.Clone(cur.History)
	if len(h) == 0 {
		// A task stored before histories were kept: its current version is the first known.
		action := "alter"
		if cur.Version == 1 {
			action = "submit"
		}
		h = append(h, api.Revision{Version: cur.Version, At: cur.UpdatedAt, Action: action})
	}
	applied(h, st)
	changed := changedPaths(&cur.Spec, &next.Spec)
	if cur.DefaultAccount != next.DefaultAccount {
		changed = append(changed, "default_account")
	}
	h = append(h, api.Revision{Version: next.Version, At: next.UpdatedAt, Action: "alter", Changed: changed, Forced: forced})
	if len(h) > api.MaxHistory {
		h = h[len(h)-api.MaxHistory:]
	}
	return h
}

// applied copies the position the worker reported for a version into its revision.
func applied(h []api.Revision, st *api.Status) {
	if st == nil || st.AppliedVersion == 0 || st.AppliedPos == "" {
		return
	}
	for i := range h {
		if h[i].Version == st.AppliedVersion && h[i].Pos == "" {
			h[i].Pos, h[i].AppliedAt = st.AppliedPos, st.AppliedAt
		}
	}
}

// historyView is a task's history as GET /v1/task/:id shows it, with the position the worker
// reported for the version it applies last.
func historyView(t *api.Task, st *api.Status, loc *time.Location) []api.RevisionView {
	h := slices.Clone(t.History)
	applied(h, st)
	out := make([]api.RevisionView, len(h))
	for i, r := range h {
		out[i] = api.RevisionView{Version: r.Version, At: api.FormatTime(r.At, loc), Action: r.Action, Changed: r.Changed,
			Forced: r.Forced, Pos: r.Pos, AppliedAt: api.FormatTime(r.AppliedAt, loc)}
	}
	return out
}

// changedPaths lists the field paths where two specs differ, in order: "kafka.topic",
// "filters[1].match", "rate_limit.rate". Lists of names (exclude_columns, partition_columns)
// count as one field.
func changedPaths(a, b *api.TaskSpec) []string {
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", toJSON(a), fa)
	flatten("", toJSON(b), fb)
	var out []string
	for k, v := range fa {
		if w, ok := fb[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func toJSON(s *api.TaskSpec) any {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	return v
}

// flatten writes v's leaves under path: objects by key, lists of objects by index, other
// values (lists of names included) whole.
func flatten(path string, v any, out map[string]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(k), e, out)
		}
		return
	case []any:
		objects := len(x) > 0
		for _, e := range x {
			if _, ok := e.(map[string]any); !ok {
				objects = false
			}
		}
		if objects {
			for i, e := range x {
				flatten(fmt.Sprintf("%s[%d]", path, i), e, out)
			}
			return
		}
	}
	b, _ := json.Marshal(v)
	out[path] = string(b)
}
