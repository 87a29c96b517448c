package local

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store/bolt"
	"github.com/dtsrepl/dts/store/storetest"
)

// TestSecretsContract holds every Secrets to the contract the launcher relies on: nil, nil for a
// task without an account (bolt used to answer store.ErrNotFound), the account once put,
// CredentialIDs listing exactly the tasks that have one, and deletes that may repeat.
func TestSecretsContract(t *testing.T) {
	impls := map[string]func(t *testing.T) (Secrets, func() int64){
		"bolt": func(t *testing.T) (Secrets, func() int64) {
			db, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db, func() int64 {
				id, err := db.Create(t.Context(), storetest.NewTask("t"))
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
		},
		"memory": func(t *testing.T) (Secrets, func() int64) {
			next := int64(0)
			return newMemSecrets(), func() int64 { next++; return next }
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s, newTask := open(t)
			a, b := newTask(), newTask()
			if c, err := s.Credentials(ctx, a); c != nil || err != nil {
				t.Fatalf("credentials of a task without: %+v, %v; want nil, nil", c, err)
			}
			creds := api.Credentials{Username: "u", Password: "p"}
			if err := s.PutCredentials(ctx, b, creds); err != nil {
				t.Fatal(err)
			}
			if c, err := s.Credentials(ctx, b); err != nil || c == nil || *c != creds {
				t.Fatalf("credentials: %+v, %v", c, err)
			}
			if ids, err := s.CredentialIDs(ctx); err != nil || !slices.Equal(ids, []int64{b}) {
				t.Fatalf("credential ids %v, %v; want [%d]", ids, err, b)
			}
			for range 2 {
				if err := s.DeleteCredentials(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if c, err := s.Credentials(ctx, b); c != nil || err != nil {
				t.Fatalf("credentials after delete: %+v, %v; want nil, nil", c, err)
			}
		})
	}
}
