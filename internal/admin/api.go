package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// apiTimeout bounds the Kafka calls behind one API request.
const apiTimeout = 10 * time.Second

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v) // the client went away
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// kafkaError answers for a failed Kafka call.
func kafkaError(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, what+" not found")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	default:
		writeError(w, http.StatusBadGateway, err.Error())
	}
}

// ClusterSummary is /api/cluster.
type ClusterSummary struct {
	ClusterID                 string   `json:"clusterId"`
	NodeID                    int32    `json:"nodeId"`
	ControllerID              int32    `json:"controllerId"`
	Version                   string   `json:"version"`
	Brokers                   []Broker `json:"brokers"`
	Topics                    int      `json:"topics"`
	InternalTopics            int      `json:"internalTopics"`
	Partitions                int      `json:"partitions"`
	UnderReplicatedPartitions int      `json:"underReplicatedPartitions"`
	OfflinePartitions         int      `json:"offlinePartitions"`
	LogSize                   int64    `json:"logSize"` // bytes on this node
	Groups                    int      `json:"groups"`  // -1: unknown
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	cl := s.cfg.State.Cluster()
	out := ClusterSummary{ClusterID: cl.ClusterID, NodeID: cl.NodeID, ControllerID: cl.ControllerID,
		Version: s.cfg.Version, Brokers: cl.Brokers, Groups: -1}
	if out.Brokers == nil {
		out.Brokers = []Broker{}
	}
	for i := range cl.Topics {
		t := &cl.Topics[i]
		out.Topics++
		if t.Internal {
			out.InternalTopics++
		}
		for j := range t.Partitions {
			out.Partitions++
			if t.Partitions[j].UnderReplicated() {
				out.UnderReplicatedPartitions++
			}
			if t.Partitions[j].Offline() {
				out.OfflinePartitions++
			}
		}
	}
	for _, l := range s.cfg.State.Logs() {
		out.LogSize += l.Size
	}
	if lag := s.metrics.lastLag(); lag != nil && lag.err == nil {
		out.Groups = len(lag.groups)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleThroughput(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.metrics.Throughput())
}

// TopicSummary is one row of /api/topics.
type TopicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Internal          bool   `json:"internal"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replicationFactor"`
	UnderReplicated   int    `json:"underReplicated"`
	Offline           int    `json:"offline"`
	Size              int64  `json:"size"`     // bytes on this node
	Messages          int64  `json:"messages"` // high watermark minus log start, summed over local replicas
}

// logIndex maps topic -> partition -> local log.
func logIndex(logs []LogState) map[string]map[int32]LogState {
	idx := map[string]map[int32]LogState{}
	for _, l := range logs {
		if idx[l.Topic] == nil {
			idx[l.Topic] = map[int32]LogState{}
		}
		idx[l.Topic][l.Partition] = l
	}
	return idx
}

func (s *Server) handleTopics(w http.ResponseWriter, r *http.Request) {
	cl := s.cfg.State.Cluster()
	logs := logIndex(s.cfg.State.Logs())
	out := make([]TopicSummary, 0, len(cl.Topics))
	for i := range cl.Topics {
		t := &cl.Topics[i]
		ts := TopicSummary{Name: t.Name, ID: t.ID, Internal: t.Internal, Partitions: len(t.Partitions)}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			ts.ReplicationFactor = max(ts.ReplicationFactor, len(p.Replicas))
			if p.UnderReplicated() {
				ts.UnderReplicated++
			}
			if p.Offline() {
				ts.Offline++
			}
			if l, ok := logs[t.Name][p.ID]; ok {
				ts.Size += l.Size
				ts.Messages += max(0, l.HighWatermark-l.LogStartOffset)
			}
		}
		out = append(out, ts)
	}
	writeJSON(w, http.StatusOK, out)
}

// PartitionDetail is a partition in /api/topics/{topic}. The log fields
// are -1 when this node has no replica of the partition.
type PartitionDetail struct {
	Partition
	LogStartOffset int64 `json:"logStartOffset"`
	LogEndOffset   int64 `json:"logEndOffset"`
	HighWatermark  int64 `json:"highWatermark"`
	Size           int64 `json:"size"`
}

// TopicDetail is /api/topics/{topic}.
type TopicDetail struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Internal   bool              `json:"internal"`
	Partitions []PartitionDetail `json:"partitions"`
}

func (s *Server) handleTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	t := s.cfg.State.Cluster().Topic(name)
	if t == nil {
		writeError(w, http.StatusNotFound, "topic not found")
		return
	}
	logs := logIndex(s.cfg.State.Logs())[name]
	out := TopicDetail{Name: t.Name, ID: t.ID, Internal: t.Internal, Partitions: make([]PartitionDetail, 0, len(t.Partitions))}
	for _, p := range t.Partitions {
		d := PartitionDetail{Partition: p, LogStartOffset: -1, LogEndOffset: -1, HighWatermark: -1, Size: -1}
		if d.Replicas == nil {
			d.Replicas = []int32{}
		}
		if d.ISR == nil {
			d.ISR = []int32{}
		}
		if l, ok := logs[p.ID]; ok {
			d.LogStartOffset, d.LogEndOffset, d.HighWatermark, d.Size = l.LogStartOffset, l.LogEndOffset, l.HighWatermark, l.Size
		}
		out.Partitions = append(out.Partitions, d)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) needKafka(w http.ResponseWriter) Kafka {
	k := s.getKafka()
	if k == nil {
		writeError(w, http.StatusServiceUnavailable, "the admin server has no Kafka client")
	}
	return k
}

func (s *Server) handleTopicConfigs(w http.ResponseWriter, r *http.Request) {
	k := s.needKafka(w)
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	cfgs, err := k.TopicConfigs(ctx, r.PathValue("topic"))
	if err != nil {
		kafkaError(w, err, "topic")
		return
	}
	writeJSON(w, http.StatusOK, cfgs)
}

// handleMessages reads records: ?partition=P&offset=O|timestamp=MS&limit=N.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	q := MessageQuery{Topic: r.PathValue("topic"), Offset: -1, Timestamp: -1, Limit: 20}
	var err error
	num := func(name string, bits int, dst func(int64)) bool {
		v := r.URL.Query().Get(name)
		if v == "" {
			return true
		}
		n, perr := strconv.ParseInt(v, 10, bits)
		if perr != nil || n < 0 {
			writeError(w, http.StatusBadRequest, name+" must be a non-negative integer")
			return false
		}
		dst(n)
		return true
	}
	if !num("partition", 32, func(n int64) { q.Partition = int32(n) }) ||
		!num("offset", 64, func(n int64) { q.Offset = n }) ||
		!num("timestamp", 64, func(n int64) { q.Timestamp = n }) ||
		!num("limit", 32, func(n int64) { q.Limit = int(n) }) {
		return
	}
	if q.Limit < 1 || q.Limit > MaxMessages {
		writeError(w, http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(MaxMessages))
		return
	}
	t := s.cfg.State.Cluster().Topic(q.Topic)
	if t == nil {
		writeError(w, http.StatusNotFound, "topic not found")
		return
	}
	if int(q.Partition) >= len(t.Partitions) {
		writeError(w, http.StatusNotFound, "partition not found")
		return
	}
	k := s.needKafka(w)
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	page, err := k.Messages(ctx, q)
	if err != nil {
		kafkaError(w, err, "partition")
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// handleGroups lists groups with their lag, fresh from the cluster.
func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request) {
	k := s.needKafka(w)
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	groups, err := k.Groups(ctx)
	if err != nil {
		kafkaError(w, err, "groups")
		return
	}
	writeJSON(w, http.StatusOK, groups)
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) {
	k := s.needKafka(w)
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	g, err := k.Group(ctx, r.PathValue("group"))
	if err != nil {
		kafkaError(w, err, "group")
		return
	}
	writeJSON(w, http.StatusOK, g)
}
