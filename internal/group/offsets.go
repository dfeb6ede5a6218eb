package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit v0-v9. v0 has no generation or member (a standalone commit),
// v1 a per-partition commit timestamp, v2-v4 a retention time (ignored since
// KIP-211), v6 leader epochs, v7 the instance id, v9 GROUP_ID_NOT_FOUND for
// an unknown group with a real generation. v10 (topic ids) is answered with
// UNKNOWN_TOPIC_ID: the coordinator knows topics by name only.
func (c *Coordinator) handleOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.SetVersion(req.Version)
	codes := newPartitionCodes(len(req.Topics), func(i int) int { return len(req.Topics[i].Partitions) })
	setAll := codes.setAll
	defer func() {
		for i, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}()

	generation, memberID := int32(-1), ""
	if req.Version >= 1 {
		generation, memberID = req.Generation, req.MemberID
	}
	if req.Group == "" {
		setAll(kerr.InvalidGroupID.Code)
		return resp
	}
	g, code := c.lookup(req.Group, generation < 0)
	if code != 0 {
		setAll(code)
		return resp
	}
	if g == nil {
		if req.Version >= 9 {
			setAll(kerr.GroupIDNotFound.Code)
		} else {
			setAll(kerr.IllegalGeneration.Code)
		}
		return resp
	}
	defer g.mu.Unlock()
	if code := g.validateOffsetCommit(req.Version, generation, memberID, req.InstanceID); code != 0 {
		setAll(code)
		return resp
	}

	now := c.clk.Now()
	type pending struct {
		i, j int
		e    offsetEntry
	}
	var recs []Record
	var todo []pending
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if req.Version >= 10 {
				codes[i][j] = kerr.UnknownTopicID.Code
				continue
			}
			md, code := commitMetadata(p.Metadata, c.cfg.OffsetMetadataMaxBytes)
			if code != 0 {
				codes[i][j] = code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTime: now}
			if req.Version >= 6 {
				e.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp >= 0 {
				e.commitTime = time.UnixMilli(p.Timestamp)
			}
			recs = append(recs, offsetRecord(g.id, t.Topic, p.Partition, e))
			todo = append(todo, pending{i, j, e})
		}
	}
	if len(recs) == 0 {
		return resp
	}
	if err := g.persist(ctx, recs...); err != nil {
		code := storeErrorCode(err)
		if code == kerr.UnknownServerError.Code {
			code = kerr.InvalidCommitOffsetSize.Code
		}
		for _, p := range todo {
			codes[p.i][p.j] = code
		}
		return resp
	}
	for _, p := range todo {
		t := req.Topics[p.i]
		g.setOffset(t.Topic, t.Partitions[p.j].Partition, p.e)
	}
	return resp
}

// validateOffsetCommit follows Kafka's ClassicGroup.validateOffsetCommit.
// REQUIRES: g.mu held.
func (g *group) validateOffsetCommit(version int16, generation int32, memberID string, instanceID *string) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.cg != nil {
		return g.validateConsumerOffsetCommit(version, generation, memberID)
	}
	if generation < 0 && g.state == stateEmpty {
		return 0 // admin tools and consumers without group management
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		m, code := g.validateMember(memberID, instanceID)
		if code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
		g.resetHeartbeat(m)
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

func (g *group) setOffset(topic string, partition int32, e offsetEntry) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = make(map[int32]offsetEntry)
		g.offsets[topic] = ps
	}
	ps[partition] = e
}

func (g *group) deleteOffset(topic string, partition int32) {
	if ps := g.offsets[topic]; ps != nil {
		delete(ps, partition)
		if len(ps) == 0 {
			delete(g.offsets, topic)
		}
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

type fetchTopic struct {
	name       string
	partitions []int32
}

type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
	err         int16 // UNSTABLE_OFFSET_COMMIT (RequireStable, txn.go)
}

type fetchedTopic struct {
	name       string
	partitions []fetchedPartition
}

// fetchOffsets returns a group's offsets for topics (nil: every committed
// topic). Unknown offsets are -1 with empty metadata and no error.
func (c *Coordinator) fetchOffsets(groupID string, memberID *string, memberEpoch int32, topics []fetchTopic, requireStable bool) (int16, []fetchedTopic) {
	if groupID == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	g, code := c.lookup(groupID, false)
	if code != 0 {
		return code, nil
	}
	var offsets map[string]map[int32]offsetEntry
	unstable := func(string, int32) bool { return false }
	if g != nil {
		defer g.mu.Unlock()
		if code := g.validateConsumerOffsetFetch(memberID, memberEpoch); code != 0 {
			return code, nil
		}
		offsets = g.offsets
		if requireStable {
			unstable = g.unstable
		}
	}
	if topics == nil {
		for name, ps := range offsets {
			ft := fetchTopic{name: name}
			for p := range ps {
				ft.partitions = append(ft.partitions, p)
			}
			slices.Sort(ft.partitions)
			topics = append(topics, ft)
		}
		slices.SortFunc(topics, func(a, b fetchTopic) int {
			switch {
			case a.name < b.name:
				return -1
			case a.name > b.name:
				return 1
			}
			return 0
		})
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name}
		for _, p := range t.partitions {
			fp := fetchedPartition{partition: p, offset: -1, leaderEpoch: -1}
			if unstable(t.name, p) {
				fp.err = kerr.UnstableOffsetCommit.Code
			} else if e, ok := offsets[t.name][p]; ok {
				fp.offset, fp.leaderEpoch, fp.metadata = e.offset, e.leaderEpoch, e.metadata
			}
			ft.partitions = append(ft.partitions, fp)
		}
		out = append(out, ft)
	}
	return 0, out
}

// OffsetFetch v0-v9. v2 makes a null topic list mean all topics and adds
// the top-level error; v5 leader epochs; v7 RequireStable (partitions with
// staged transactional offsets get UNSTABLE_OFFSET_COMMIT); v8 batches
// groups; v9 adds member id and epoch, used only by KIP-848 groups.
func (c *Coordinator) handleOffsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.SetVersion(req.Version)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{t.Topic, t.Partitions})
				}
			}
			code, fetched := c.fetchOffsets(rg.Group, rg.MemberID, rg.MemberEpoch, topics, req.RequireStable)
			og := kmsg.NewOffsetFetchResponseGroup()
			og.Group = rg.Group
			og.ErrorCode = code
			for _, ft := range fetched {
				ot := kmsg.NewOffsetFetchResponseGroupTopic()
				ot.Topic = ft.name
				for _, fp := range ft.partitions {
					op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					op.Partition, op.Offset, op.LeaderEpoch = fp.partition, fp.offset, fp.leaderEpoch
					md := fp.metadata
					op.Metadata = &md
					op.ErrorCode = fp.err
					ot.Partitions = append(ot.Partitions, op)
				}
				og.Topics = append(og.Topics, ot)
			}
			resp.Groups = append(resp.Groups, og)
		}
		return resp
	}
	topics := make([]fetchTopic, 0, len(req.Topics))
	for _, t := range req.Topics {
		topics = append(topics, fetchTopic{t.Topic, t.Partitions})
	}
	if req.Topics == nil && req.Version >= 2 {
		topics = nil
	}
	code, fetched := c.fetchOffsets(req.Group, nil, -1, topics, req.Version >= 7 && req.RequireStable)
	if code != 0 {
		if req.Version >= 2 {
			resp.ErrorCode = code
			return resp
		}
		// v0-v1 have no top-level error: report it on every partition.
		fetched = fetched[:0]
		for _, t := range topics {
			ft := fetchedTopic{name: t.name}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1})
			}
			fetched = append(fetched, ft)
		}
	}
	for _, ft := range fetched {
		ot := kmsg.NewOffsetFetchResponseTopic()
		ot.Topic = ft.name
		for _, fp := range ft.partitions {
			op := kmsg.NewOffsetFetchResponseTopicPartition()
			op.Partition, op.Offset, op.LeaderEpoch = fp.partition, fp.offset, fp.leaderEpoch
			md := fp.metadata
			op.Metadata = &md
			op.ErrorCode = code
			if fp.err != 0 {
				op.ErrorCode = fp.err
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// subscribedTopics decodes the members' consumer-protocol subscriptions.
// ok is false when they are unknown (a non-consumer protocol, undecodable
// metadata, or the first rebalance still choosing a protocol): callers then
// treat every topic as subscribed. REQUIRES: g.mu held.
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	if g.cg != nil {
		return g.cg.subscribed(), true
	}
	topics = make(map[string]bool)
	if len(g.members) == 0 {
		return topics, true
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	for _, m := range g.members {
		md := m.metadataFor(g.protocol)
		var cm kmsg.ConsumerMemberMetadata
		if md == nil || cm.ReadFrom(md) != nil {
			return nil, false
		}
		for _, t := range cm.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// OffsetDelete v0 (KIP-496): deletes a group's offsets for partitions of
// topics no member subscribes to.
func (c *Coordinator) handleOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.SetVersion(req.Version)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer g.mu.Unlock()
	if g.state == stateDead {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	if g.state != stateEmpty && g.protocolType != "consumer" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	subs, known := g.subscribedTopics()
	var recs []Record
	var dels []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		subscribed := !known || subs[t.Topic]
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[t.Topic][p.Partition]; ok {
				recs = append(recs, offsetTombstone(g.id, t.Topic, p.Partition))
				dels = append(dels, topicPartition{t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) > 0 {
		if err := g.persist(ctx, recs...); err != nil {
			resp.ErrorCode = storeErrorCode(err)
			resp.Topics = nil
			return resp
		}
		for _, d := range dels {
			g.deleteOffset(d.topic, d.partition)
		}
	}
	return resp
}

// expiredOffsets lists offsets past retention (KIP-211). Empty groups with
// a protocol count from when they became Empty; groups without a protocol
// (standalone commits) from each commit; Stable consumer groups only expire
// offsets of topics no member subscribes to, counted from the commit.
// REQUIRES: g.mu held.
func (g *group) expiredOffsets(now time.Time) []topicPartition {
	retention := g.c.cfg.OffsetsRetention
	var skip map[string]bool
	useState := false
	switch {
	case g.cg != nil:
		skip = g.cg.subscribed()
	case g.protocolType == "":
	case g.state == stateEmpty:
		useState = !g.stateTime.IsZero()
	case g.protocolType == "consumer" && g.state == stateStable:
		subs, ok := g.subscribedTopics()
		if !ok {
			return nil
		}
		skip = subs
	default:
		return nil
	}
	var out []topicPartition
	for t, ps := range g.offsets {
		if skip[t] {
			continue
		}
		for p, e := range ps {
			base := e.commitTime
			if useState {
				base = g.stateTime
			}
			if now.Sub(base) >= retention {
				out = append(out, topicPartition{t, p})
			}
		}
	}
	return out
}

// expireOffsets is the periodic retention pass: it tombstones expired
// offsets and deletes Empty groups left without offsets.
func (c *Coordinator) expireOffsets() {
	now := c.clk.Now()
	for _, g := range c.loadedGroups() {
		g.mu.Lock()
		if g.dead {
			g.mu.Unlock()
			continue
		}
		expired := g.expiredOffsets(now)
		var recs []Record
		for _, e := range expired {
			recs = append(recs, offsetTombstone(g.id, e.topic, e.partition))
		}
		remaining := 0
		for _, ps := range g.offsets {
			remaining += len(ps)
		}
		deleteGroup := g.state == stateEmpty && len(g.pending) == 0 && remaining == len(expired) &&
			len(g.txnPending) == 0 && // offsets of an open transaction (txn.go)
			(g.cg == nil || len(g.cg.members) == 0)
		if deleteGroup {
			recs = append(recs, groupTombstone(g.id))
			cgRecs, _ := g.cgChanges(true)
			recs = append(recs, cgRecs...)
		}
		if len(recs) > 0 {
			ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
			err := g.persist(ctx, recs...)
			cancel()
			if err != nil {
				c.log.Warn("group: expiring offsets failed", "group", g.id, "err", err)
				g.mu.Unlock()
				continue
			}
			for _, e := range expired {
				g.deleteOffset(e.topic, e.partition)
			}
			if len(expired) > 0 {
				c.log.Info("group: expired offsets", "group", g.id, "count", len(expired))
			}
			if deleteGroup {
				g.cgPersisted = nil
				g.kill(kerr.CoordinatorNotAvailable.Code)
				c.removeGroup(g)
			}
		}
		g.mu.Unlock()
	}
}
