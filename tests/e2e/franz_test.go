package e2e

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFranzRecordShapes: keys, headers, null and empty keys/values survive a
// produce/consume round trip, in order, with contiguous offsets.
func TestFranzRecordShapes(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, nil)

	var sent []*kgo.Record
	for i := 0; i < 200; i++ {
		r := &kgo.Record{Topic: topic}
		switch i % 5 {
		case 0:
			r.Key, r.Value = []byte("k"+strconv.Itoa(i)), []byte("v"+strconv.Itoa(i))
		case 1:
			r.Key, r.Value = nil, []byte("no-key-"+strconv.Itoa(i))
		case 2:
			r.Key, r.Value = []byte("tombstone-"+strconv.Itoa(i)), nil
		case 3:
			r.Key, r.Value = []byte{}, []byte{}
		case 4:
			r.Key, r.Value = []byte("h"+strconv.Itoa(i)), []byte("with headers")
			r.Headers = []kgo.RecordHeader{
				{Key: "trace", Value: []byte("abc-" + strconv.Itoa(i))},
				{Key: "empty", Value: []byte{}},
				{Key: "null", Value: nil},
				{Key: "trace", Value: []byte("dup key")},
			}
		}
		sent = append(sent, r)
	}
	cl := b.Client(t, kgo.ProducerLinger(5*time.Millisecond))
	produceSync(t, cl, sent...)

	got := consumeAll(t, b, topic)[0]
	if len(got) != len(sent) {
		t.Fatalf("consumed %d records, produced %d", len(got), len(sent))
	}
	// Without transactions, read_committed sees the same (LSO = HW).
	if rc := consumeAll(t, b, topic, kgo.FetchIsolationLevel(kgo.ReadCommitted()))[0]; len(rc) != len(sent) {
		t.Errorf("read_committed consumer got %d records, want %d", len(rc), len(sent))
	}
	for i, r := range got {
		s := sent[i]
		if r.Offset != int64(i) {
			t.Errorf("record %d at offset %d", i, r.Offset)
		}
		// A zero-length key/value may come back as empty or nil in
		// franz-go only if the broker changed it: compare nil-ness.
		if !equalBytes(r.Key, s.Key) && !(len(r.Key) == 0 && len(s.Key) == 0 && s.Key != nil && r.Key != nil) {
			t.Errorf("record %d: key %q (nil=%v), want %q (nil=%v)", i, r.Key, r.Key == nil, s.Key, s.Key == nil)
		}
		if (r.Value == nil) != (s.Value == nil) || string(r.Value) != string(s.Value) {
			t.Errorf("record %d: value %q (nil=%v), want %q (nil=%v)", i, r.Value, r.Value == nil, s.Value, s.Value == nil)
		}
		if len(r.Headers) != len(s.Headers) {
			t.Errorf("record %d: %d headers, want %d", i, len(r.Headers), len(s.Headers))
			continue
		}
		for j, h := range r.Headers {
			sh := s.Headers[j]
			if h.Key != sh.Key || string(h.Value) != string(sh.Value) || (h.Value == nil) != (sh.Value == nil) {
				t.Errorf("record %d header %d: %q=%q(nil=%v), want %q=%q(nil=%v)", i, j, h.Key, h.Value, h.Value == nil, sh.Key, sh.Value, sh.Value == nil)
			}
		}
		if r.Timestamp.UnixMilli() != s.Timestamp.UnixMilli() {
			t.Errorf("record %d: timestamp %v, want the producer's %v (CreateTime)", i, r.Timestamp, s.Timestamp)
		}
	}
}

// TestFranzCompressionCodecs: each codec is stored as produced (the batch
// attributes on Fetch say so) and decodes back to the same records; a
// consumer reading a topic that mixes all codecs sees every record in order.
func TestFranzCompressionCodecs(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	codecs := []struct {
		name string
		id   int
		c    kgo.CompressionCodec
	}{
		{"none", 0, kgo.NoCompression()},
		{"gzip", 1, kgo.GzipCompression()},
		{"snappy", 2, kgo.SnappyCompression()},
		{"lz4", 3, kgo.Lz4Compression()},
		{"zstd", 4, kgo.ZstdCompression()},
	}
	mixed := topicName(t) + "-mixed"
	createTopic(t, adm, mixed, 1, nil)
	var mixedSent []string
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, adm, topic, 1, nil)
			cl := b.Client(t, kgo.ProducerBatchCompression(c.c), kgo.ProducerLinger(20*time.Millisecond))
			var recs []*kgo.Record
			for i := 0; i < 500; i++ {
				// Compressible, with a key and a header.
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%7)),
					Value:   []byte(fmt.Sprintf("%s value %04d aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", c.name, i)),
					Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(c.name)}}})
			}
			produceSync(t, cl, recs...)
			got := consumeAll(t, b, topic)[0]
			if len(got) != len(recs) {
				t.Fatalf("consumed %d, produced %d", len(got), len(recs))
			}
			for i, r := range got {
				if string(r.Value) != string(recs[i].Value) || string(r.Key) != string(recs[i].Key) || r.Offset != int64(i) ||
					len(r.Headers) != 1 || string(r.Headers[0].Value) != c.name {
					t.Fatalf("record %d: offset %d key %q value %q headers %v; want key %q value %q", i, r.Offset, r.Key, r.Value, r.Headers, recs[i].Key, recs[i].Value)
				}
			}
			stored := fetchCodecs(t, b, topic, 0)
			if len(stored) == 0 {
				t.Fatal("fetch returned no batches")
			}
			for _, s := range stored {
				if s != c.id {
					t.Fatalf("stored batch codecs %v, want all %d (%s): the broker must keep the producer's compression (compression.type=producer)", stored, c.id, c.name)
				}
			}

			// One batch of this codec into the mixed topic.
			var mrecs []*kgo.Record
			for i := 0; i < 50; i++ {
				v := fmt.Sprintf("%s-%d", c.name, i)
				mrecs = append(mrecs, &kgo.Record{Topic: mixed, Value: []byte(v)})
			}
			produceSync(t, cl, mrecs...)
			for _, r := range mrecs {
				mixedSent = append(mixedSent, string(r.Value))
			}
		})
	}
	got := consumeAll(t, b, mixed)[0]
	if len(got) != len(mixedSent) {
		t.Fatalf("mixed topic: consumed %d, produced %d", len(got), len(mixedSent))
	}
	for i, r := range got {
		if string(r.Value) != mixedSent[i] {
			t.Fatalf("mixed topic record %d = %q, want %q", i, r.Value, mixedSent[i])
		}
	}
}

// TestFranzManyPartitions: 32 partitions, keyed records; every record lands
// once, per-key order holds, and end offsets add up.
func TestFranzManyPartitions(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	adm := b.Admin(t)
	createTopic(t, adm, topic, 32, nil)
	cl := b.Client(t, kgo.ProducerLinger(5*time.Millisecond))
	const n = 6400
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%97)), Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, cl, recs...)
	parts := map[int32]bool{}
	for _, r := range recs {
		parts[r.Partition] = true
	}
	if len(parts) < 16 {
		t.Errorf("records spread over only %d partitions", len(parts))
	}
	ends, err := adm.ListEndOffsets(ctxT(t, 10*time.Second), topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("end offsets sum to %d, want %d", total, n)
	}
	got := consumeAll(t, b, topic)
	checkOffsetsIncreasing(t, got)
	seen := make([]bool, n)
	lastPerKey := map[string]int{}
	for p, prs := range got {
		for _, r := range prs {
			i, _ := strconv.Atoi(string(r.Value))
			if seen[i] {
				t.Fatalf("value %d seen twice", i)
			}
			seen[i] = true
			if recs[i].Partition != p || recs[i].Offset != r.Offset {
				t.Fatalf("value %d at %d/%d, producer was told %d/%d", i, p, r.Offset, recs[i].Partition, recs[i].Offset)
			}
			if last, ok := lastPerKey[string(r.Key)]; ok && last > i {
				t.Fatalf("key %s: %d after %d", r.Key, i, last)
			}
			lastPerKey[string(r.Key)] = i
		}
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("value %d missing", i)
		}
	}
}

// TestFranzAcks: acks=0, 1 and all all store every record exactly once
// (single node: nothing can be lost in flight).
func TestFranzAcks(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	for _, tc := range []struct {
		name string
		acks kgo.Acks
		idem bool
	}{
		{"acks0", kgo.NoAck(), false},
		{"acks1", kgo.LeaderAck(), false},
		{"acksall", kgo.AllISRAcks(), false},
		{"acksall-idempotent", kgo.AllISRAcks(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, adm, topic, 3, nil)
			opts := []kgo.Opt{kgo.RequiredAcks(tc.acks), kgo.ProducerLinger(2 * time.Millisecond)}
			if !tc.idem {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := b.Client(t, opts...)
			const n = 3000
			var recs []*kgo.Record
			for i := 0; i < n; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
			}
			produceSync(t, cl, recs...)
			// acks=0 gets no answer: poll the end offsets.
			testutil.WaitFor(t, 15*time.Second, "end offsets to reach the record count", func() (bool, string) {
				ends, err := adm.ListEndOffsets(ctxT(t, 5*time.Second), topic)
				if err != nil {
					return false, err.Error()
				}
				var total int64
				ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
				return total == n, fmt.Sprintf("sum %d, want %d", total, n)
			})
			got := consumeAll(t, b, topic)
			checkOffsetsIncreasing(t, got)
			seen := map[string]bool{}
			for _, r := range flatten(got) {
				if seen[string(r.Value)] {
					t.Fatalf("value %s twice", r.Value)
				}
				seen[string(r.Value)] = true
			}
			if len(seen) != n {
				t.Fatalf("consumed %d distinct values, want %d", len(seen), n)
			}
		})
	}
}

// TestFranzIdempotentConcurrent: many concurrent idempotent produce calls
// with 5 requests in flight per broker; every value exactly once and in
// produce order within each partition.
func TestFranzIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 4, nil)
	cl := b.Client(t, kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(4096))
	const producers, each = 4, 2500
	var wg sync.WaitGroup
	errc := make(chan error, producers*each)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Key by producer goroutine so each goroutine's
				// records share a partition and keep order.
				r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("g%d", p)), Value: []byte(fmt.Sprintf("%d-%06d", p, i))}
				cl.Produce(ctxT(t, 60*time.Second), r, func(_ *kgo.Record, err error) {
					if err != nil {
						errc <- err
					}
				})
			}
		}()
	}
	wg.Wait()
	if err := cl.Flush(ctxT(t, 60*time.Second)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	close(errc)
	for err := range errc {
		t.Fatalf("produce: %v", err)
	}
	got := consumeAll(t, b, topic)
	last := map[string]string{}
	seen := map[string]bool{}
	for _, r := range flatten(got) {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("duplicate record %s", v)
		}
		seen[v] = true
	}
	for _, prs := range got {
		for _, r := range prs {
			k := string(r.Key)
			if l, ok := last[k]; ok && l > string(r.Value) {
				t.Fatalf("key %s: %s after %s", k, r.Value, l)
			}
			last[k] = string(r.Value)
		}
	}
	if len(seen) != producers*each {
		t.Fatalf("consumed %d distinct, want %d", len(seen), producers*each)
	}
}

// TestFranzListOffsets: earliest (-2), latest (-1), max timestamp (-3) and
// by timestamp.
func TestFranzListOffsets(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	adm := b.Admin(t)
	createTopic(t, adm, topic, 1, nil)
	cl := b.Client(t)
	ctx := ctxT(t, 30*time.Second)

	// Empty partition: by timestamp, Kafka answers -1 (kadm would turn
	// that into the end offset, so ask on the wire).
	if off, ts, code := rawListOffset(t, b, topic, 0, 0); code != 0 || off != -1 || ts != -1 {
		t.Errorf("empty partition, ListOffsets v7 timestamp 0: offset %d timestamp %d %s; Kafka answers -1, -1, NONE", off, ts, codeName(code))
	}
	for _, spec := range []int64{-1, -2} {
		if off, _, code := rawListOffset(t, b, topic, 0, spec); code != 0 || off != 0 {
			t.Errorf("empty partition, ListOffsets v7 timestamp %d: offset %d %s; want 0, NONE", spec, off, codeName(code))
		}
	}

	// Timestamps one second apart in the past (within
	// message.timestamp.after.max.ms; before.max is unbounded), except
	// record 7, which carries the largest timestamp.
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	const n = 20
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * time.Second)
		if i == 7 {
			ts = t0.Add(25 * time.Minute) // five minutes ago
		}
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: ts})
	}
	// One record per batch so the time index has something to do.
	for _, r := range recs {
		produceSync(t, cl, r)
	}

	check := func(name string, lo kadm.ListedOffsets, err error, wantOff int64, wantTS int64) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		o, ok := lo.Lookup(topic, 0)
		if !ok {
			t.Errorf("%s: partition missing from response", name)
			return
		}
		if o.Err != nil || o.Offset != wantOff {
			t.Errorf("%s: offset %d err %v, want %d", name, o.Offset, o.Err, wantOff)
		}
		if wantTS != 0 && o.Timestamp != wantTS {
			t.Errorf("%s: timestamp %d, want %d", name, o.Timestamp, wantTS)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, topic)
	check("earliest (-2)", lo, err, 0, 0)
	lo, err = adm.ListEndOffsets(ctx, topic)
	check("latest (-1)", lo, err, n, 0)
	lo, err = adm.ListCommittedOffsets(ctx, topic)
	check("latest, read_committed (LSO)", lo, err, n, 0)
	lo, err = adm.ListMaxTimestampOffsets(ctx, topic)
	check("max timestamp (-3)", lo, err, 7, t0.Add(25*time.Minute).UnixMilli())
	lo, err = adm.ListOffsetsAfterMilli(ctx, t0.UnixMilli(), topic)
	check("timestamp = first", lo, err, 0, t0.UnixMilli())
	lo, err = adm.ListOffsetsAfterMilli(ctx, t0.Add(4500*time.Millisecond).UnixMilli(), topic)
	check("timestamp between 4 and 5", lo, err, 5, t0.Add(5*time.Second).UnixMilli())
	lo, err = adm.ListOffsetsAfterMilli(ctx, t0.Add(12*time.Second).UnixMilli(), topic)
	check("timestamp 12 (record 7 is later but earlier in the log)", lo, err, 7, t0.Add(25*time.Minute).UnixMilli())
	// kadm reports "no such record" (-1 on the wire) as the end offset.
	lo, err = adm.ListOffsetsAfterMilli(ctx, t0.Add(26*time.Minute).UnixMilli(), topic)
	check("timestamp after all (kadm)", lo, err, n, 0)
	if off, ts, code := rawListOffset(t, b, topic, 0, t0.Add(26*time.Minute).UnixMilli()); code != 0 || off != -1 || ts != -1 {
		t.Errorf("ListOffsets v7 after the largest timestamp: offset %d timestamp %d %s; Kafka answers -1, -1, NONE", off, ts, codeName(code))
	}
	if off, ts, code := rawListOffset(t, b, topic, 0, -3); code != 0 || off != 7 || ts != t0.Add(25*time.Minute).UnixMilli() {
		t.Errorf("ListOffsets v7 max timestamp (-3): offset %d timestamp %d %s; want 7 at %d", off, ts, codeName(code), t0.Add(25*time.Minute).UnixMilli())
	}
	if off, _, code := rawListOffset(t, b, topic, 5, -1); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("ListOffsets for a missing partition: offset %d %s, want UNKNOWN_TOPIC_OR_PARTITION", off, codeName(code))
	}
	lo, err = adm.ListOffsetsAfterMilli(ctx, 0, topic)
	check("timestamp 0", lo, err, 0, 0)
}

// TestFranzDeleteRecords: DeleteRecords moves the log start offset; a
// fetch below it gets OFFSET_OUT_OF_RANGE, which franz-go resets to the new
// start; deleting past the high watermark is OFFSET_OUT_OF_RANGE.
func TestFranzDeleteRecords(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	adm := b.Admin(t)
	createTopic(t, adm, topic, 2, nil)
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))})
	}
	cl2 := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, cl2, recs...)
	ctx := ctxT(t, 30*time.Second)

	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 20, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: topic, Partition: 1, At: -1, LeaderEpoch: -1}) // -1: up to the high watermark
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{0, 1} {
		r, ok := dr.Lookup(topic, p)
		want := map[int32]int64{0: 20, 1: 50}[p]
		if !ok || r.Err != nil || r.LowWatermark != want {
			t.Errorf("DeleteRecords %s[%d]: low watermark %d err %v, want %d", topic, p, r.LowWatermark, r.Err, want)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Offset != 20 {
		t.Errorf("start offset of p0 = %d, want 20", o.Offset)
	}
	if o, _ := starts.Lookup(topic, 1); o.Offset != 50 {
		t.Errorf("start offset of p1 = %d, want 50", o.Offset)
	}

	// By timestamp, nothing below the log start offset is returned.
	if off, _, code := rawListOffset(t, b, topic, 0, 0); code != 0 || off != 20 {
		t.Errorf("ListOffsets(timestamp 0) after DeleteRecords to 20: offset %d %s, want 20", off, codeName(code))
	}

	// Raw fetch at 0: OFFSET_OUT_OF_RANGE with the new LogStartOffset.
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	req.ReplicaID = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.LogStartOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, 0, -1, -1, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := testutil.DialRaw(t, b.Addr()).Request(req).(*kmsg.FetchResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 20 {
		t.Errorf("fetch at 0 below log start: %s, logStartOffset %d; want OFFSET_OUT_OF_RANGE(1), 20", codeName(p.ErrorCode), p.LogStartOffset)
	}

	// A consumer asking for offset 0 resets to the start.
	cons := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) < 30 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume after DeleteRecords: timed out with %d records", len(got))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch error: %v", err) })
		got = append(got, fs.Records()...)
	}
	if got[0].Offset != 20 || string(got[0].Value) != "40" {
		t.Errorf("first record after reset: offset %d value %s, want offset 20 value 40", got[0].Offset, got[0].Value)
	}

	// Beyond the high watermark.
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1000, LeaderEpoch: -1})
	dr, err = adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup(topic, 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("DeleteRecords beyond the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
}

// rawListOffset sends ListOffsets v7 for one partition and returns the
// partition's offset, timestamp and error code as they are on the wire.
func rawListOffset(t testing.TB, b *testutil.Broker, topic string, partition int32, ts int64) (int64, int64, int16) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.CurrentLeaderEpoch = -1
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := testutil.DialRaw(t, b.Addr()).Request(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets response shape: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.Timestamp, p.ErrorCode
}
