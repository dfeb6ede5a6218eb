package controller

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

func TestACLsAndScramPersist(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	a1 := metadata.ACL{ResourceType: 2, ResourceName: "orders", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 4, Permission: 3}
	a2 := metadata.ACL{ResourceType: 3, ResourceName: "g-", PatternType: 4, Principal: "User:bob", Host: "*", Operation: 3, Permission: 3}
	if err := c.CreateACLs([]metadata.ACL{a1, a2, a1}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateACLs([]metadata.ACL{a1}); err != nil { // exists: no-op
		t.Fatal(err)
	}
	if got := c.Image().ACLs; len(got) != 2 {
		t.Fatalf("ACLs %v", got)
	}
	before := c.Image()
	deleted, err := c.DeleteACLs([]func(metadata.ACL) bool{
		func(a metadata.ACL) bool { return a.Principal == "User:bob" },
		func(a metadata.ACL) bool { return a.ResourceType == 3 },
	})
	if err != nil || len(deleted) != 2 || len(deleted[0]) != 1 || len(deleted[1]) != 1 {
		t.Fatalf("deleted %v, %v", deleted, err)
	}
	if len(before.ACLs) != 2 {
		t.Fatal("an earlier image changed")
	}

	cred := metadata.ScramCredential{Salt: []byte("salt"), StoredKey: []byte("sk"), ServerKey: []byte("svk"), Iterations: 4096}
	errs := c.AlterScram([]ScramChange{
		{User: "alice", Mechanism: "SCRAM-SHA-256", Credential: &cred},
		{User: "bob", Mechanism: "SCRAM-SHA-512"}, // delete of nothing
	})
	if errs[0] != nil || kafkaErr(errs[1]) != kerr.ResourceNotFound {
		t.Fatalf("alter scram: %v", errs)
	}
	c.Close()

	c = open(t, dir)
	defer c.Close()
	img := c.Image()
	if len(img.ACLs) != 1 || img.ACLs[0] != a1 {
		t.Errorf("ACLs after reopen: %v", img.ACLs)
	}
	got, ok := img.Scram[metadata.ScramKey{User: "alice", Mechanism: "SCRAM-SHA-256"}]
	if !ok || !bytes.Equal(got.StoredKey, cred.StoredKey) || got.Iterations != 4096 {
		t.Errorf("SCRAM after reopen: %+v %v", got, ok)
	}
	if errs := c.AlterScram([]ScramChange{{User: "alice", Mechanism: "SCRAM-SHA-256"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if len(c.Image().Scram) != 0 || len(img.Scram) != 1 {
		t.Error("delete did not copy on write")
	}
}
