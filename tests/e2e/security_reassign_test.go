package e2e

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecurityReassignACLs: AlterPartitionReassignments needs Alter on the
// cluster, ListPartitionReassignments Describe on the cluster
// (KAFKA-FACTS section 10); a denied request fails as a whole.
func TestSecurityReassignACLs(t *testing.T) {
	t.Parallel()
	sb, adm := aclBroker(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	alice := sb.client(t, sb.plainOpts("alice", "alice-secret")...)
	admin := sb.client(t, sb.plainOpts("admin", "admin-secret")...)

	alter := func(cl *kgo.Client) *kmsg.AlterPartitionAssignmentsResponse {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Replicas = []int32{1} // the current replicas: nothing to move
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	list := func(cl *kgo.Client) *kmsg.ListPartitionReassignmentsResponse {
		t.Helper()
		resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctxT(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	denied := kerr.ClusterAuthorizationFailed.Code
	if r := alter(alice); r.ErrorCode != denied || len(r.Topics) != 1 || r.Topics[0].Partitions[0].ErrorCode != denied {
		t.Errorf("alice reassigning: %+v, want CLUSTER_AUTHORIZATION_FAILED", r)
	}
	if r := list(alice); r.ErrorCode != denied {
		t.Errorf("alice listing: %+v, want CLUSTER_AUTHORIZATION_FAILED", r)
	}
	if r := alter(admin); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("super user reassigning: %+v", r)
	}
	if r := list(admin); r.ErrorCode != 0 || len(r.Topics) != 0 {
		t.Errorf("super user listing: %+v", r)
	}

	// Describe on the cluster lets alice list, not reassign.
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpDescribe))
	if r := list(alice); r.ErrorCode != 0 {
		t.Errorf("alice listing with Describe: %+v", r)
	}
	if r := alter(alice); r.ErrorCode != denied {
		t.Errorf("alice reassigning with Describe only: %+v", r)
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpAlter))
	if r := alter(alice); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("alice reassigning with Alter: %+v", r)
	}
}
