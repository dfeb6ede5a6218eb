package server

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	maxKey         = 80
	apiVersionsKey = 18
)

// handler serves one API key over a version range.
type handler struct {
	min, max int16
	fn       func(r *request) (kmsg.Response, error)
	// blocking handlers may wait (long polls, rebalances): responses
	// already written are flushed before they run.
	blocking bool
}

// handle registers fn for the API key of T over [min, max].
func handle[T kmsg.Request](s *Server, min, max int16, fn func(r *request, req T) (kmsg.Response, error)) *handler {
	var zero T
	key := zero.Key() // Key does not dereference its receiver
	if max > zero.MaxVersion() {
		panic("server: version above what kmsg can encode")
	}
	h := &handler{min: min, max: max, fn: func(r *request) (kmsg.Response, error) { return fn(r, r.body.(T)) }}
	s.handlers[key] = h
	return h
}

func (s *Server) handler(key int16) *handler {
	if key < 0 || int(key) >= len(s.handlers) {
		return nil
	}
	return s.handlers[key]
}

// registerHandlers lists every API Quill serves; ApiVersions advertises
// exactly this table.
func (s *Server) registerHandlers() {
	handle(s, 0, 11, s.handleProduce)
	handle(s, 4, 16, s.handleFetch).blocking = true
	handle(s, 0, 8, s.handleListOffsets)
	handle(s, 0, 12, s.handleMetadata)
	handle(s, 0, 4, s.handleApiVersions)
	handle(s, 0, 7, s.handleCreateTopics)
	handle(s, 0, 6, s.handleDeleteTopics)
	handle(s, 0, 2, s.handleDeleteRecords)
	handle(s, 0, 5, s.handleInitProducerID)
	handle(s, 0, 4, s.handleOffsetForLeaderEpoch)
	handle(s, 0, 4, s.handleDescribeConfigs)
	handle(s, 0, 2, s.handleAlterConfigs)
	handle(s, 0, 4, s.handleDescribeLogDirs)
	handle(s, 0, 3, s.handleCreatePartitions)
	handle(s, 0, 1, s.handleIncrementalAlterConfigs)
	handle(s, 0, 1, s.handleDescribeCluster)
	handle(s, 0, 1, s.handleDescribeQuorum)              // 55_describe_quorum.go
	handle(s, 0, 2, s.handleElectLeaders)                // 43_elect_leaders.go
	handle(s, 0, 1, s.handleAlterPartitionReassignments) // 45_alter_partition_reassignments.go
	handle(s, 0, 0, s.handleListPartitionReassignments)  // 46_list_partition_reassignments.go
	s.registerGroupHandlers()
	s.registerTxnHandlers()
	s.registerSecurityHandlers()
}
