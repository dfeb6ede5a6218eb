// Package admin is Quill's operator surface: an HTTP listener with
// Prometheus metrics (/metrics), health checks (/healthz, /readyz), a JSON
// API of cluster state (/api/...), optional pprof and the embedded web
// console (/).
//
// The package knows nothing of the broker's internals. It reads cluster
// state through State (plain data the caller converts from its metadata
// image and replicas), learns about requests through Metrics (which the
// protocol server calls as its observer), and reaches groups, configs and
// messages the way any client would: through a Kafka client connected to
// the broker's own listener (Kafka). Keeping those three seams narrow is
// what lets the handlers be tested with fakes.
package admin

import (
	"context"
	"time"
)

// Broker is a registered broker.
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	ID          int32   `json:"partition"`
	Leader      int32   `json:"leader"` // -1: offline
	LeaderEpoch int32   `json:"leaderEpoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
}

// UnderReplicated reports an ISR smaller than the replica set.
func (p *Partition) UnderReplicated() bool { return len(p.ISR) < len(p.Replicas) }

// Offline reports a partition without a leader.
func (p *Partition) Offline() bool { return p.Leader < 0 }

// Topic is a topic and its partitions, ordered by partition id.
type Topic struct {
	Name       string      `json:"name"`
	ID         string      `json:"id"`
	Internal   bool        `json:"internal"`
	Partitions []Partition `json:"partitions"`
}

// Cluster is one version of the cluster metadata. A *Cluster handed to the
// admin server is never modified afterwards.
type Cluster struct {
	ClusterID    string   `json:"clusterId"`
	NodeID       int32    `json:"nodeId"`       // this node
	ControllerID int32    `json:"controllerId"` // active controller; -1: unknown
	Brokers      []Broker `json:"brokers"`      // ordered by id
	Topics       []Topic  `json:"topics"`       // ordered by name
}

// Topic returns the named topic or nil.
func (c *Cluster) Topic(name string) *Topic {
	for i := range c.Topics {
		if c.Topics[i].Name == name {
			return &c.Topics[i]
		}
	}
	return nil
}

// LogState is the local log of one partition replica on this node.
type LogState struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	LogStartOffset int64  `json:"logStartOffset"`
	LogEndOffset   int64  `json:"logEndOffset"`
	HighWatermark  int64  `json:"highWatermark"`
	Size           int64  `json:"size"` // bytes on disk
}

// State is the broker's view of the cluster, read on each scrape or API
// call. Implementations must be safe for concurrent use and cheap enough
// to call once per request.
type State interface {
	// Cluster returns the current metadata; never nil.
	Cluster() *Cluster
	// Logs returns this node's partition replicas in any order.
	Logs() []LogState
}

// Kafka is what the admin server asks of the cluster through a Kafka
// client: group state, topic configs and records. All calls are bounded by
// ctx.
type Kafka interface {
	// Groups lists every group with its lag (as of now).
	Groups(ctx context.Context) ([]GroupLag, error)
	// Group describes one group: members, assignments and per-partition
	// lag. A group that does not exist returns ErrNotFound.
	Group(ctx context.Context, name string) (*GroupDetail, error)
	// TopicConfigs returns the effective configs of a topic.
	TopicConfigs(ctx context.Context, topic string) ([]ConfigEntry, error)
	// Messages reads up to q.Limit records of one partition.
	Messages(ctx context.Context, q MessageQuery) (*MessagePage, error)
	// Close releases the client.
	Close()
}

// GroupLag is a group's summary with its lag per partition.
type GroupLag struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocolType"`
	Members      int            `json:"members"`
	TotalLag     int64          `json:"totalLag"` // sum of known partition lags
	Partitions   []PartitionLag `json:"partitions"`
	Error        string         `json:"error,omitempty"`
}

// PartitionLag is a group's position in one partition. Lag is -1 when it
// is unknown (no commit and no end offset, or an error).
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1: none
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"memberId,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
	Error     string `json:"error,omitempty"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	MemberID   string             `json:"memberId"`
	InstanceID string             `json:"instanceId,omitempty"`
	ClientID   string             `json:"clientId"`
	ClientHost string             `json:"clientHost"`
	Assigned   map[string][]int32 `json:"assigned"` // topic -> partitions
}

// GroupDetail is one group in full.
type GroupDetail struct {
	GroupLag
	Protocol    string        `json:"protocol"`
	Coordinator int32         `json:"coordinator"`
	MemberList  []GroupMember `json:"memberList"`
}

// ConfigEntry is one effective topic config.
type ConfigEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive"`
}

// MessageQuery selects records of one partition: from Offset if it is
// >= 0, else from the first record at or after Timestamp (ms) if that is
// >= 0, else the last Limit records.
type MessageQuery struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64
	Limit     int
}

// MessagePage is the answer to a MessageQuery.
type MessagePage struct {
	Topic          string    `json:"topic"`
	Partition      int32     `json:"partition"`
	StartOffset    int64     `json:"startOffset"` // where reading began
	LogStartOffset int64     `json:"logStartOffset"`
	HighWatermark  int64     `json:"highWatermark"`
	Messages       []Message `json:"messages"`
}

// Message is one record. Bytes are base64 in JSON; nil key or value is
// null.
type Message struct {
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"` // ms since the epoch
	Key       []byte   `json:"key"`
	Value     []byte   `json:"value"`
	Headers   []Header `json:"headers"`
}

// Header is one record header.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// now is time.Now, replaced in tests.
var now = time.Now
