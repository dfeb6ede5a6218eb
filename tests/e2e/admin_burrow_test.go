package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/quillstream/quill/internal/testutil"
)

const (
	burrowBin    = "/usr/bin/Burrow"               // Debian package burrow
	zookeeperJar = "/usr/share/java/zookeeper.jar" // Debian package zookeeper (Burrow needs one)
)

func requireBurrow(t *testing.T) {
	t.Helper()
	var missing []string
	for _, p := range []string{burrowBin, zookeeperJar} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("java"); err != nil {
		missing = append(missing, "java")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %v (apt-get install burrow zookeeper)", missing)
	if os.Getenv("QUILL_E2E_ALLOW_SKIP") == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg + "; set QUILL_E2E_ALLOW_SKIP=1 to skip")
}

// startProcess runs a helper process with its output in dir/name.log; it
// is killed by PID in t.Cleanup and its output printed if the test failed.
func startProcess(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // this PID only
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			if len(out) > 16<<10 {
				out = out[len(out)-16<<10:]
			}
			t.Logf("----- %s output -----\n%s", name, out)
		}
	})
}

// burrowLag is the part of Burrow's /v3/kafka/C/consumer/G/lag answer the
// test reads.
type burrowLag struct {
	Error  bool `json:"error"`
	Status struct {
		Status         string `json:"status"`
		PartitionCount int    `json:"partition_count"`
		TotalLag       int64  `json:"totallag"`
		Partitions     []struct {
			Topic      string `json:"topic"`
			Partition  int32  `json:"partition"`
			CurrentLag int64  `json:"current_lag"`
		} `json:"partitions"`
	} `json:"status"`
}

// TestAdminBurrow: LinkedIn's Burrow, reading Quill's __consumer_offsets
// and listing offsets like it does against Kafka, computes the same
// consumer lag as Quill's own console API.
func TestAdminBurrow(t *testing.T) {
	requireBurrow(t)
	dir := t.TempDir()

	zkPort := testutil.FreePort(t)
	if err := os.MkdirAll(filepath.Join(dir, "zk"), 0o755); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, "zookeeper", "java", "-cp", "/etc/zookeeper/conf:"+zookeeperJar,
		"-Dzookeeper.admin.enableServer=false", "-Xmx256m",
		"org.apache.zookeeper.server.ZooKeeperServerMain", strconv.Itoa(zkPort), filepath.Join(dir, "zk"))
	testutil.WaitFor(t, 30*time.Second, "zookeeper to listen", func() (bool, string) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(zkPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, fmt.Sprint(err)
	})

	b := startAdminBroker(t)
	topic, group := topicName(t), "burrow-"+topicName(t)
	createTopic(t, b.Admin(t), topic, 2, nil)
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i)})
	}
	produceSync(t, cl, recs...)
	cons := b.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx := ctxT(t, 30*time.Second)
	for seen := 0; seen < len(recs); {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", seen, len(recs), ctx.Err())
		}
		seen += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cons.Close()
	const extra = 7
	var more []*kgo.Record
	for i := range extra {
		more = append(more, &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "late%d", i)})
	}
	produceSync(t, cl, more...)

	httpPort := testutil.FreePort(t)
	conf := fmt.Sprintf(`[general]
pidfile=%q
[logging]
level="info"
[zookeeper]
servers=["127.0.0.1:%d"]
timeout=6
root-path="/burrow"
[client-profile.quill]
client-id="burrow"
kafka-version="2.1.0"
[cluster.quill]
class-name="kafka"
servers=[%q]
client-profile="quill"
topic-refresh=2
offset-refresh=2
[consumer.quill]
class-name="kafka"
cluster="quill"
servers=[%q]
client-profile="quill"
offsets-topic="__consumer_offsets"
start-latest=false
[httpserver.default]
address="127.0.0.1:%d"
[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
`, filepath.Join(dir, "burrow.pid"), zkPort, b.Addr(), b.Addr(), httpPort)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, "burrow", burrowBin, "-config-dir", dir)

	lagURL := fmt.Sprintf("http://127.0.0.1:%d/v3/kafka/quill/consumer/%s/lag", httpPort, group)
	var lag burrowLag
	testutil.WaitFor(t, 60*time.Second, "Burrow's lag for the group", func() (bool, string) {
		resp, err := adminHTTPClient.Get(lagURL)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		lag = burrowLag{}
		if err := json.NewDecoder(resp.Body).Decode(&lag); err != nil {
			return false, err.Error()
		}
		return !lag.Error && lag.Status.PartitionCount == 2 && lag.Status.TotalLag == extra,
			fmt.Sprintf("%+v", lag.Status)
	})
	for _, p := range lag.Status.Partitions {
		want := int64(0)
		if p.Partition == 0 {
			want = extra
		}
		if p.Topic != topic || p.CurrentLag != want {
			t.Errorf("Burrow: %s-%d lag %d, want %d", p.Topic, p.Partition, p.CurrentLag, want)
		}
	}

	// Quill's own view agrees.
	var g struct {
		TotalLag int64 `json:"totalLag"`
	}
	b.getJSON(t, "/api/groups/"+group, &g)
	if g.TotalLag != lag.Status.TotalLag {
		t.Errorf("Quill's console says lag %d, Burrow %d", g.TotalLag, lag.Status.TotalLag)
	}
}
