// Command eosworker is a helper process for the end-to-end transaction
// tests (tests/e2e/txn_test.go), so that tests can kill -9 a real client:
//
//	eosworker transform ADDR GROUP IN OUT TXNID DELAY [MAX]  consume-transform-produce
//	                                            with kgo.GroupTransactSession until
//	                                            killed, pausing DELAY per transaction
//	                                            of at most MAX records (200)
//	eosworker hang ADDR TOPIC TXNID N TIMEOUT [P] begin a transaction (timeout
//	                                            TIMEOUT), produce N records (over
//	                                            partitions 0..P-1 if P is given),
//	                                            print "open", then wait
//
// ADDR may list several brokers, separated by commas.
// Every committed transaction of transform prints "committed K" (K records).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: eosworker transform|hang ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "transform":
		delay, _ := time.ParseDuration(os.Args[7])
		maxRecs := 200
		if len(os.Args) > 8 {
			maxRecs, _ = strconv.Atoi(os.Args[8])
		}
		err = transform(os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6], delay, maxRecs)
	case "hang":
		n, _ := strconv.Atoi(os.Args[5])
		timeout, _ := time.ParseDuration(os.Args[6])
		parts := 0
		if len(os.Args) > 7 {
			parts, _ = strconv.Atoi(os.Args[7])
		}
		err = hang(os.Args[2], os.Args[3], os.Args[4], n, timeout, parts)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eosworker:", err)
		os.Exit(1)
	}
}

func transform(addr, group, in, out, txnID string, delay time.Duration, maxRecs int) error {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(strings.Split(addr, ",")...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(6*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.DefaultProduceTopic(out),
		kgo.MaxBufferedRecords(1000),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx := context.Background()
	for {
		fs := sess.PollRecords(ctx, maxRecs)
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "fetch error %s[%d]: %v\n", t, p, err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				if err != nil {
					fmt.Fprintln(os.Stderr, "produce:", err)
				}
			})
		})
		time.Sleep(delay) // keeps transactions open long enough to be killed in
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			fmt.Fprintln(os.Stderr, "end:", err)
			continue
		}
		if committed {
			fmt.Printf("committed %d\n", n)
		} else {
			fmt.Printf("aborted %d\n", n)
		}
	}
}

func hang(addr, topic, txnID string, n int, timeout time.Duration, parts int) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(addr, ",")...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(timeout),
		kgo.DefaultProduceTopic(topic),
	}
	if parts > 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for i := range n {
		r := kgo.StringRecord(fmt.Sprintf("hung-%d", i))
		if parts > 0 {
			r.Partition = int32(i % parts)
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return err
		}
	}
	fmt.Println("open")
	select {}
}
