package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNotFound is returned for a topic, partition or group that does not
// exist.
var ErrNotFound = errors.New("not found")

// Limits on what one API call may ask of the cluster.
const (
	// MaxMessages is the most records one message-browser call returns.
	MaxMessages = 500
	// maxGroups bounds a group poll; groups past it (by name) are left out
	// of the metrics and the group list.
	maxGroups = 1000
	// maxMessageBytes caps a record's key or value as returned to the
	// browser; longer ones are cut.
	maxMessageBytes = 64 << 10
)

// kafkaClient implements Kafka with franz-go against the broker's own
// listener.
type kafkaClient struct {
	seeds []string
	cl    *kgo.Client
	adm   *kadm.Client
}

// NewKafka returns a Kafka backed by franz-go clients seeded with seeds.
// It connects lazily.
func NewKafka(seeds ...string) (Kafka, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("quill-admin"),
		kgo.RequestTimeoutOverhead(5*time.Second), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	return &kafkaClient{seeds: seeds, cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (k *kafkaClient) Close() { k.cl.Close() }

func (k *kafkaClient) Groups(ctx context.Context) ([]GroupLag, error) {
	listed, err := k.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	names := listed.Groups()
	if len(names) > maxGroups {
		names = names[:maxGroups]
	}
	if len(names) == 0 {
		return []GroupLag{}, nil
	}
	lags, err := pollLag(ctx, k.adm, names...)
	if err != nil {
		return nil, fmt.Errorf("group lag: %w", err)
	}
	out := make([]GroupLag, 0, len(names))
	for _, name := range names {
		l, ok := lags[name]
		if !ok {
			out = append(out, GroupLag{Group: name, State: listed[name].State, ProtocolType: listed[name].ProtocolType,
				Partitions: []PartitionLag{}, Error: "not described"})
			continue
		}
		out = append(out, groupLag(&l))
	}
	return out, nil
}

func groupLag(l *kadm.DescribedGroupLag) GroupLag {
	g := GroupLag{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Members: len(l.Members),
		Partitions: []PartitionLag{}}
	if err := l.Error(); err != nil {
		g.Error = err.Error()
	}
	for _, ml := range l.Lag.Sorted() {
		p := PartitionLag{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
		if ml.End.Err != nil {
			p.End = -1
		}
		if ml.Member != nil {
			p.MemberID, p.ClientID = ml.Member.MemberID, ml.Member.ClientID
		}
		if ml.Err != nil {
			p.Error = ml.Err.Error()
		}
		if p.Lag > 0 {
			g.TotalLag += p.Lag
		}
		g.Partitions = append(g.Partitions, p)
	}
	return g
}

func (k *kafkaClient) Group(ctx context.Context, name string) (*GroupDetail, error) {
	lags, err := pollLag(ctx, k.adm, name)
	if err != nil {
		return nil, fmt.Errorf("group lag: %w", err)
	}
	l, ok := lags[name]
	if !ok || errors.Is(l.DescribeErr, kerr.GroupIDNotFound) || (l.DescribeErr == nil && l.State == "Dead") {
		return nil, ErrNotFound
	}
	d := &GroupDetail{GroupLag: groupLag(&l), Protocol: l.Protocol, Coordinator: l.Coordinator.NodeID,
		MemberList: []GroupMember{}}
	for _, m := range l.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				gm.Assigned[t.Topic] = ps
			}
		}
		d.MemberList = append(d.MemberList, gm)
	}
	return d, nil
}

func (k *kafkaClient) TopicConfigs(ctx context.Context, topic string) ([]ConfigEntry, error) {
	rcs, err := k.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	out := make([]ConfigEntry, 0, len(rc.Configs))
	for _, c := range rc.Configs {
		e := ConfigEntry{Name: c.Key, Value: c.MaybeValue(), Sensitive: c.Sensitive,
			Source: strings.ToLower(strings.TrimSuffix(c.Source.String(), "_CONFIG"))}
		if c.Sensitive {
			e.Value = ""
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b ConfigEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (k *kafkaClient) Messages(ctx context.Context, q MessageQuery) (*MessagePage, error) {
	if q.Limit <= 0 || q.Limit > MaxMessages {
		q.Limit = MaxMessages
	}
	starts, err := pollOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return k.adm.ListStartOffsets(ctx, q.Topic)
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	ends, err := pollOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return k.adm.ListEndOffsets(ctx, q.Topic)
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	so, ok1 := starts.Lookup(q.Topic, q.Partition)
	eo, ok2 := ends.Lookup(q.Topic, q.Partition)
	if !ok1 || !ok2 || errors.Is(so.Err, kerr.UnknownTopicOrPartition) {
		return nil, ErrNotFound
	}
	if so.Err != nil || eo.Err != nil {
		return nil, fmt.Errorf("list offsets: %w", errors.Join(so.Err, eo.Err))
	}
	page := &MessagePage{Topic: q.Topic, Partition: q.Partition, LogStartOffset: so.Offset,
		HighWatermark: eo.Offset, Messages: []Message{}}
	start := q.Offset
	switch {
	case start >= 0:
	case q.Timestamp >= 0:
		after, err := pollOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
			return k.adm.ListOffsetsAfterMilli(ctx, q.Timestamp, q.Topic)
		})
		if err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
		o, ok := after.Lookup(q.Topic, q.Partition)
		if !ok || o.Err != nil {
			return nil, fmt.Errorf("list offsets by time: %v", o.Err)
		}
		start = o.Offset
		if start < 0 { // no record at or after the time
			start = eo.Offset
		}
	default:
		start = eo.Offset - int64(q.Limit)
	}
	start = max(start, so.Offset)
	page.StartOffset = start
	if start >= eo.Offset {
		return page, nil
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(k.seeds...), kgo.ClientID("quill-admin-browser"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{q.Topic: {q.Partition: kgo.NewOffset().At(start)}}),
		kgo.FetchMaxWait(250*time.Millisecond), kgo.FetchMaxPartitionBytes(4<<20))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	for len(page.Messages) < q.Limit {
		fs := cons.PollRecords(ctx, q.Limit-len(page.Messages))
		if err := ctx.Err(); err != nil {
			if len(page.Messages) > 0 {
				break // answer with what arrived in time
			}
			return nil, fmt.Errorf("read %s-%d from %d: %w", q.Topic, q.Partition, start, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("fetch: %w", ferr)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if len(page.Messages) >= q.Limit || r.Offset >= eo.Offset {
				done = true
				return
			}
			page.Messages = append(page.Messages, message(r))
			if r.Offset+1 >= eo.Offset {
				done = true
			}
		})
		if done {
			break
		}
	}
	return page, nil
}

func message(r *kgo.Record) Message {
	m := Message{Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: cut(r.Key), Value: cut(r.Value),
		Headers: make([]Header, 0, len(r.Headers))}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, Header{Key: h.Key, Value: cut(h.Value)})
	}
	return m
}

func cut(b []byte) []byte {
	if len(b) > maxMessageBytes {
		return b[:maxMessageBytes]
	}
	return b
}
