package dispatcher

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/api"
)

// TestIdempotentSubmit: a retry with the submit's Idempotency-Key answers with the first task
// and launches it again with the retry's account (completing a submit that died before it
// launched); the key with another body is -409; a key that is too long is -400. A task with an
// explicit server id is not refused by its own retry.
func TestIdempotentSubmit(t *testing.T) {
	h := newHarness(t)
	body := seedBody(srcPort, kafkaAddr, "replicator_test")
	withID := strings.Replace(body, `"password":`, `"server_id":77,"password":`, 1)
	key := func(k string) map[string]string {
		return map[string]string{api.IdempotencyKeyHeader: k, "Authorization": "Basic " + basic(testUser, testPassword), "Content-Type": "application/json"}
	}
	submit := func(body, k string) *response {
		t.Helper()
		return h.doHeaders(http.MethodPost, "/v1/dispatch/submit", body, key(k))
	}
	ok := func(r *response, out *api.SubmitResponse) {
		t.Helper()
		r.wantCode(t, api.CodeOK)
		r.data(t, out)
	}
	var first, again api.SubmitResponse
	ok(submit(body, "a"), &first)
	ok(submit(body, "a"), &again)
	if again.ID != first.ID {
		t.Fatalf("retry made task %d, want %d", again.ID, first.ID)
	}
	launches, _, _ := h.launcher.calls()
	if last := launches[len(launches)-1]; last.Task.ID != first.ID || last.Creds == nil || last.Creds.Password != seedPassword {
		t.Errorf("the retry did not hand the account again: %+v", last)
	}
	submit(strings.Replace(body, "replicator_test", "other_topic", 1), "a").wantCode(t, api.CodeConflict, api.IdempotencyKeyHeader)

	var withIDFirst, withIDAgain api.SubmitResponse
	ok(submit(withID, "b"), &withIDFirst)
	ok(submit(withID, "b"), &withIDAgain)
	if withIDAgain.ID != withIDFirst.ID {
		t.Fatalf("retry of a submit with a server id made task %d, want %d", withIDAgain.ID, withIDFirst.ID)
	}
	submit(withID, "c").wantCode(t, api.CodeConflict, "server_id")

	submit(body, strings.Repeat("k", api.MaxIdempotencyKey+1)).wantCode(t, api.CodeBadRequest, api.IdempotencyKeyHeader)
	if n := h.store.count(t); n != 2 {
		t.Errorf("%d tasks stored, want 2", n)
	}
}
