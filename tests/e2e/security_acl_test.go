package e2e

import (
	"crypto/x509/pkix"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclBroker starts a broker with the StandardAuthorizer name, User:admin
// as super user, and PLAIN users admin, alice, bob, carol on SASL_SSL.
func aclBroker(t *testing.T) (*secureBroker, *kadm.Client) {
	t.Helper()
	sb := startSecureBroker(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:admin",
	})
	return sb, sb.admin(t, sb.plainOpts("admin", "admin-secret")...)
}

func createACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctxT(t, 10*time.Second), b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
}

func produceErr(t *testing.T, cl *kgo.Client, topic string) error {
	t.Helper()
	return cl.ProduceSync(ctxT(t, 15*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
}

func metadataTopics(t *testing.T, cl *kgo.Client) []string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range resp.Topics {
		names = append(names, *tp.Topic)
	}
	return names
}

// TestSecurityACLs: franz-go clients under ACLs. A principal without
// Write cannot produce, without Read cannot consume or join the group;
// prefixed ACLs apply; deny overrides allow; unauthorized topics are
// hidden from metadata; the super user can do everything.
func TestSecurityACLs(t *testing.T) {
	t.Parallel()
	sb, adm := aclBroker(t)
	for _, topic := range []string{"orders-a", "orders-blocked", "secret"} {
		createTopic(t, adm, topic, 1, nil)
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").Topics("orders-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	createACLs(t, adm, kadm.NewACLs().Deny("User:alice").Topics("orders-blocked").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob").Topics("orders-a").Groups("g-bob").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))

	alice := sb.client(t, sb.plainOpts("alice", "alice-secret")...)
	bob := func(group string) *kgo.Client {
		return sb.client(t, append(sb.plainOpts("bob", "bob-secret"), kgo.ConsumerGroup(group),
			kgo.ConsumeTopics("orders-a"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	}
	carol := sb.client(t, sb.plainOpts("carol", "carol-secret")...)

	t.Run("write", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if err := produceErr(t, alice, "orders-a"); err != nil {
				t.Fatalf("alice to orders-a (prefixed Write): %v", err)
			}
		}
		for _, topic := range []string{"secret", "orders-blocked"} {
			if err := produceErr(t, alice, topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Errorf("alice to %s: %v, want TOPIC_AUTHORIZATION_FAILED", topic, err)
			}
		}
		// bob's idempotent producer already fails at InitProducerId: no
		// IdempotentWrite and no Write on any topic.
		bp := sb.client(t, sb.plainOpts("bob", "bob-secret")...)
		if err := produceErr(t, bp, "orders-a"); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("bob (Read only) producing: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		bp = sb.client(t, append(sb.plainOpts("bob", "bob-secret"), kgo.DisableIdempotentWrite())...)
		if err := produceErr(t, bp, "orders-a"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("bob (Read only) producing without idempotence: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("read", func(t *testing.T) {
		cl := bob("g-bob")
		got := 0
		ctx := ctxT(t, 20*time.Second)
		for got < 5 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("bob consumed %d of 5", got)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("bob fetch: %v", err) })
			got += fs.NumRecords()
		}
		if err := cl.CommitUncommittedOffsets(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("bob commit: %v", err)
		}

		// Another group: no Read on it.
		other := bob("g-other")
		ctx = ctxT(t, 20*time.Second)
		var ferr error
		for ferr == nil && ctx.Err() == nil {
			other.PollFetches(ctx).EachError(func(_ string, _ int32, err error) { ferr = err })
		}
		if !errors.Is(ferr, kerr.GroupAuthorizationFailed) {
			t.Errorf("bob in g-other: %v, want GROUP_AUTHORIZATION_FAILED", ferr)
		}

		// alice may write but not read.
		ac := sb.client(t, append(sb.plainOpts("alice", "alice-secret"), kgo.ConsumeTopics("orders-a"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		ctx = ctxT(t, 20*time.Second)
		ferr = nil
		for ferr == nil && ctx.Err() == nil {
			ac.PollFetches(ctx).EachError(func(_ string, _ int32, err error) { ferr = err })
		}
		if !errors.Is(ferr, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice reading: %v, want TOPIC_AUTHORIZATION_FAILED", ferr)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		if got := metadataTopics(t, carol); len(got) != 0 {
			t.Errorf("carol (no ACLs) sees %v", got)
		}
		got := metadataTopics(t, alice)
		slices.Sort(got)
		if !slices.Equal(got, []string{"orders-a", "orders-blocked"}) {
			t.Errorf("alice sees %v, want orders-a and orders-blocked (Write implies Describe)", got)
		}
		all := metadataTopics(t, sb.client(t, sb.plainOpts("admin", "admin-secret")...))
		if !slices.Contains(all, "secret") || !slices.Contains(all, "__consumer_offsets") {
			t.Errorf("super user sees %v", all)
		}
		// KIP-430: alice may Write and (implied) Describe orders-a.
		opsReq := kmsg.NewPtrMetadataRequest()
		opsReq.IncludeTopicAuthorizedOperations = true
		ot := kmsg.NewMetadataRequestTopic()
		ot.Topic = sp("orders-a")
		opsReq.Topics = append(opsReq.Topics, ot)
		opsResp, err := opsReq.RequestWith(ctxT(t, 10*time.Second), alice)
		if err != nil || len(opsResp.Topics) != 1 {
			t.Fatalf("metadata with authorized operations: %v", err)
		}
		if got, want := opsResp.Topics[0].AuthorizedOperations, int32(1<<4|1<<8); got != want {
			t.Errorf("alice's authorized operations on orders-a: %b, want %b (Write, Describe)", got, want)
		}
		// Asking for a hidden topic by name: TOPIC_AUTHORIZATION_FAILED.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = sp("secret")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), carol)
		if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("carol asking for secret: %v %+v", err, resp)
		}
	})

	t.Run("admin-apis", func(t *testing.T) {
		aadm := kadm.NewClient(alice)
		su0 := sb.client(t, sb.plainOpts("admin", "admin-secret")...)
		res, err := aadm.CreateACLs(ctxT(t, 10*time.Second), kadm.NewACLs().Allow("User:alice").Topics("secret").
			ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
		if err == nil && (len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed)) {
			err = errors.New("created")
		}
		if err != nil && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("alice creating ACLs: %v", err)
		}
		if _, err := aadm.CreateTopic(ctxT(t, 10*time.Second), 1, 1, nil, "alice-new"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice creating a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if _, err := aadm.DeleteTopic(ctxT(t, 10*time.Second), "secret"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice deleting a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		dreq := kmsg.NewPtrDescribeACLsRequest()
		dreq.ResourceType, dreq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		desc, err := dreq.RequestWith(ctxT(t, 10*time.Second), su0)
		if err != nil || desc.ErrorCode != 0 {
			t.Fatalf("describe ACLs: %v %+v", err, desc)
		}
		n := 0
		for _, r := range desc.Resources {
			n += len(r.ACLs)
		}
		if n != 4 {
			t.Errorf("described %d ACLs, want 4: %+v", n, desc.Resources)
		}
		if desc, err = dreq.RequestWith(ctxT(t, 10*time.Second), alice); err != nil || desc.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("alice describing ACLs: %v %+v", err, desc)
		}
		// The super user can do everything.
		su := sb.client(t, sb.plainOpts("admin", "admin-secret")...)
		if err := produceErr(t, su, "secret"); err != nil {
			t.Errorf("super user producing: %v", err)
		}
		// Delete bob's ACLs: he can no longer read.
		del := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		f.Principal = sp("User:bob")
		del.Filters = append(del.Filters, f)
		dres, err := del.RequestWith(ctxT(t, 10*time.Second), su0)
		if err != nil {
			t.Fatal(err)
		}
		deleted := len(dres.Results[0].MatchingACLs)
		if deleted != 2 {
			t.Errorf("deleted %d ACLs of bob, want 2", deleted)
		}
		if got := metadataTopics(t, sb.client(t, sb.plainOpts("bob", "bob-secret")...)); len(got) != 0 {
			t.Errorf("bob still sees %v", got)
		}
	})

	t.Run("mtls-principal", func(t *testing.T) {
		// On the SSL listener the principal is the certificate's DN.
		_, _, dave := sb.pki.client(t, "dave", pkix.Name{CommonName: "dave", Organization: []string{"Quill"}})
		_, _, erin := sb.pki.client(t, "erin", pkix.Name{CommonName: "erin", Organization: []string{"Quill"}})
		createACLs(t, adm, kadm.NewACLs().Allow("User:CN=dave,O=Quill").Topics("orders-a").
			ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
		if err := produceErr(t, sb.client(t, sb.tlsOpts(dave)...), "orders-a"); err != nil {
			t.Errorf("dave (certificate) producing: %v", err)
		}
		if err := produceErr(t, sb.client(t, append(sb.tlsOpts(erin), kgo.DisableIdempotentWrite())...), "orders-a"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("erin (certificate, no ACL) producing: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		txnClient := func(id string) *kgo.Client {
			return sb.client(t, append(sb.plainOpts("alice", "alice-secret"), kgo.TransactionalID(id))...)
		}
		cl := txnClient("tx-denied")
		err := cl.BeginTransaction()
		if err == nil {
			err = produceErr(t, cl, "orders-a")
		}
		if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Errorf("transactional id without ACL: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
		createACLs(t, adm, kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-ok-").
			ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
		cl = txnClient("tx-ok-1")
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := produceErr(t, cl, "orders-a"); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
		if err := cl.EndTransaction(ctxT(t, 15*time.Second), kgo.TryCommit); err != nil {
			t.Fatalf("commit: %v", err)
		}
	})

	t.Run("acls-survive-restart", func(t *testing.T) {
		sb.Restart()
		cl := sb.client(t, sb.plainOpts("alice", "alice-secret")...)
		if err := produceErr(t, cl, "orders-a"); err != nil {
			t.Fatalf("alice after restart: %v", err)
		}
		if err := produceErr(t, cl, "secret"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice to secret after restart: %v", err)
		}
	})
}

// TestSecurityACLClients: kcat and confluent-kafka-python over SASL_SSL
// with SCRAM-SHA-512 under ACLs.
func TestSecurityACLClients(t *testing.T) {
	t.Parallel()
	testutil.RequireKcat(t)
	testutil.RequirePython(t, "confluent_kafka")
	sb, adm := aclBroker(t)
	addScramUser(t, adm, "writer", "w-pass")
	addScramUser(t, adm, "reader", "r-pass")
	addScramUser(t, adm, "admin", "admin-scram")
	topic := "app-" + strings.ToLower(topicName(t)[len(topicName(t))-4:])
	createTopic(t, adm, topic, 1, nil)
	createACLs(t, adm, kadm.NewACLs().Allow("User:writer").Topics("app-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	createACLs(t, adm, kadm.NewACLs().Allow("User:reader").Topics("app-").Groups("app-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))

	py := func(mode, group, user, pass string) testutil.Result {
		return testutil.Python(t, 90*time.Second, "confluent_security.py",
			append([]string{mode, topic, group}, sb.rdkSCRAM("SCRAM-SHA-512", user, pass)...)...)
	}
	ok := func(what string, r testutil.Result) {
		t.Helper()
		if r.Err != nil || !strings.Contains(r.Stdout, "OK") {
			t.Errorf("%s: %v", what, r)
		}
	}
	ok("reader cannot produce", py("produce-denied", "x", "reader", "r-pass"))
	ok("writer cannot consume", py("consume-denied", "app-g", "writer", "w-pass"))
	ok("reader cannot join a group without Read", py("consume-denied", "other-g", "reader", "r-pass"))
	ok("super user round trip", py("roundtrip", "admin-g", "admin", "admin-scram"))

	// kcat: the writer produces (prefixed ACL), the reader consumes in a
	// group with a prefixed group ACL, the reader cannot produce.
	addr, args := kcatX(sb.rdkSCRAM("SCRAM-SHA-512", "writer", "w-pass"), "-P", "-t", topic)
	if r := testutil.Kcat(t, 30*time.Second, addr, []byte("from-kcat\n"), args...); r.Err != nil {
		t.Fatalf("kcat writer -P: %v", r)
	}
	addr, args = kcatX(sb.rdkSCRAM("SCRAM-SHA-512", "reader", "r-pass"), "-C", "-G", "app-kcat", topic, "-e", "-X", "auto.offset.reset=earliest", "-f", "%s\n")
	r := testutil.Kcat(t, 60*time.Second, addr, nil, args...)
	if !strings.Contains(r.Stdout, "from-kcat") {
		t.Errorf("kcat reader -G: %v", r)
	}
	addr, args = kcatX(sb.rdkSCRAM("SCRAM-SHA-512", "reader", "r-pass"), "-P", "-t", topic)
	r = testutil.Kcat(t, 30*time.Second, addr, []byte("nope\n"), args...)
	if r.Err == nil || !strings.Contains(r.Stderr, "uthorization") {
		t.Errorf("kcat reader -P: %v", r)
	}
}

// TestSecurityPrincipalMapping: ssl.principal.mapping.rules turns a
// certificate DN into the user name ACLs name; a DN no rule matches is
// refused.
func TestSecurityPrincipalMapping(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, map[string]string{
		"authorizer.class.name": "StandardAuthorizer",
		"super.users":           "User:admin",
		"listener.name.ssl.ssl.principal.mapping.rules": `RULE:^CN=([^,]*),O=Quill$/$1/L`,
	})
	adm := sb.admin(t, sb.plainOpts("admin", "admin-secret")...)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	createACLs(t, adm, kadm.NewACLs().Allow("User:dave").Topics(topic).
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	_, _, dave := sb.pki.client(t, "dave", pkix.Name{CommonName: "Dave", Organization: []string{"Quill"}})
	if err := produceErr(t, sb.client(t, sb.tlsOpts(dave)...), topic); err != nil {
		t.Errorf("CN=Dave,O=Quill as User:dave: %v", err)
	}
	_, _, other := sb.pki.client(t, "other", pkix.Name{CommonName: "dave", Organization: []string{"Other"}})
	if err := sb.client(t, sb.tlsOpts(other)...).Ping(ctxT(t, 10*time.Second)); err == nil {
		t.Error("a certificate no mapping rule matches was accepted")
	}
}

// TestSecurityACLRevokedMidSession: a consumer's fetch session keeps
// partitions between requests (KIP-227); removing its Read ACL stops the
// data at the next fetch.
func TestSecurityACLRevokedMidSession(t *testing.T) {
	t.Parallel()
	sb, adm := aclBroker(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	su := sb.client(t, sb.plainOpts("admin", "admin-secret")...)
	produceSync(t, su, &kgo.Record{Topic: topic, Value: []byte("before")})
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob").Topics(topic).
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	bob := sb.client(t, append(sb.plainOpts("bob", "bob-secret"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))...)
	ctx := ctxT(t, 20*time.Second)
	for got := 0; got < 1; {
		fs := bob.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("bob read nothing")
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
	time.Sleep(500 * time.Millisecond) // a few incremental fetches
	res, err := adm.DeleteACLs(ctxT(t, 10*time.Second), kadm.NewACLs().Allow("User:bob").AllowHosts("*").Topics(topic).
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	if err != nil || len(res) == 0 || res[0].Err != nil {
		t.Fatalf("delete ACL: %v %+v", err, res)
	}
	produceSync(t, su, &kgo.Record{Topic: topic, Value: []byte("after")})
	ctx = ctxT(t, 20*time.Second)
	var ferr error
	for ferr == nil && ctx.Err() == nil {
		fs := bob.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { t.Errorf("bob read %q after the ACL was removed", r.Value) })
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
	}
	if !errors.Is(ferr, kerr.TopicAuthorizationFailed) {
		t.Errorf("after revocation: %v, want TOPIC_AUTHORIZATION_FAILED", ferr)
	}
}
