// Command compare runs the same franz-go workloads against Quill and
// against franz-go's in-memory fake broker kfake, each in a process of its
// own, and prints the medians of several runs with Quill/kfake ratios and
// the brokers' CPU time per record (utime+stime from /proc/<pid>/stat over
// each run).
//
//	go run ./bench/compare                 # the full table (a few minutes)
//	go run ./bench/compare -runs 1 -n100 20000 -n1k 5000 -e2e 1s   # a smoke run
//	go run ./bench/compare -scale      # Quill alone: 10,000 partitions, restarts
//
// Quill is the binary -quill (built from ./cmd/quill into a temporary
// directory when empty), started on a fresh data directory; kfake is
// ./bench/kfakeserver. Both listen on free ports of 127.0.0.1. The program
// stops by itself: each run has a timeout and the brokers are stopped at
// the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	quill      string
	runs       int
	n100       int64
	n1k        int64
	e2e        time.Duration
	e2eRate    int
	runTimeout time.Duration
	only       *regexp.Regexp
	targets    []string
	keep       bool
	verbose    bool
	quillArgs  []string

	scale           bool
	scalePartitions int
	spread          int
	recoveryGB      float64
}

func main() {
	var o options
	var only, targets, extra string
	flag.StringVar(&o.quill, "quill", "", "quill binary (default: build ./cmd/quill into a temporary directory)")
	flag.IntVar(&o.runs, "runs", 3, "runs of each workload per broker (the table shows medians)")
	flag.Int64Var(&o.n100, "n100", 5_000_000, "records per 100 B workload")
	flag.Int64Var(&o.n1k, "n1k", 1_000_000, "records per 1 KiB workload")
	flag.DurationVar(&o.e2e, "e2e", 10*time.Second, "duration of the end-to-end latency workload")
	flag.IntVar(&o.e2eRate, "e2e-rate", 10_000, "records/s of the end-to-end latency workload")
	flag.DurationVar(&o.runTimeout, "run-timeout", 2*time.Minute, "a run taking longer fails")
	flag.StringVar(&only, "only", "", "run only workloads whose name matches this regexp")
	flag.StringVar(&targets, "targets", "quill,kfake", "brokers to run, comma-separated")
	flag.BoolVar(&o.keep, "keep", false, "keep Quill's data directory and logs")
	flag.BoolVar(&o.verbose, "v", false, "print every run")
	flag.StringVar(&extra, "quill-override", "", "extra Quill config, key=value[,key=value...]")
	flag.BoolVar(&o.scale, "scale", false, "instead of the table, measure Quill with many partitions and its restart after kill -9")
	flag.IntVar(&o.scalePartitions, "scale-partitions", 10_000, "-scale: partitions on the node")
	flag.IntVar(&o.spread, "spread", 1_000, "-scale: partitions the spread produce writes to")
	flag.Float64Var(&o.recoveryGB, "recovery-gb", 10, "-scale: GiB of log before the kill -9 (0: skip)")
	flag.Parse()
	if only != "" {
		o.only = regexp.MustCompile(only)
	}
	o.targets = strings.Split(targets, ",")
	if extra != "" {
		for _, kv := range strings.Split(extra, ",") {
			o.quillArgs = append(o.quillArgs, "--override", kv)
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	tmp, err := os.MkdirTemp("", "quill-compare-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	if o.scale {
		bin := o.quill
		if bin == "" {
			bin = filepath.Join(tmp, "quill")
			if err := goBuild(bin, "github.com/quillstream/quill/cmd/quill"); err != nil {
				return err
			}
		}
		return runScale(o, bin, tmp)
	}

	var brokers []*broker
	defer func() {
		for _, b := range brokers {
			b.stop()
		}
	}()
	for _, t := range o.targets {
		var b *broker
		switch t {
		case "quill":
			bin := o.quill
			if bin == "" {
				bin = filepath.Join(tmp, "quill")
				if err := goBuild(bin, "github.com/quillstream/quill/cmd/quill"); err != nil {
					return err
				}
			}
			b, err = startQuill(bin, tmp, o.quillArgs)
		case "kfake":
			bin := filepath.Join(tmp, "kfakeserver")
			if err := goBuild(bin, "github.com/quillstream/quill/bench/kfakeserver"); err != nil {
				return err
			}
			b, err = startKfake(bin, tmp)
		default:
			return fmt.Errorf("unknown target %q", t)
		}
		if err != nil {
			return err
		}
		brokers = append(brokers, b)
	}

	ws := workloads(o)
	// results[workload][broker] holds one result per run.
	results := make([][][]result, len(ws))
	for i, w := range ws {
		if o.only != nil && !o.only.MatchString(w.name) {
			continue
		}
		results[i] = make([][]result, len(brokers))
		for r := range o.runs {
			// Alternate which broker goes first, so neither always runs on
			// a machine just warmed (or heated) by the other.
			order := make([]int, len(brokers))
			for j := range order {
				order[j] = (j + r) % len(brokers)
			}
			for _, j := range order {
				b := brokers[j]
				ctx, cancel := context.WithTimeout(context.Background(), o.runTimeout)
				res, err := w.run(ctx, b, r)
				cancel()
				if err != nil {
					return fmt.Errorf("%s on %s, run %d: %w", w.name, b.name, r+1, err)
				}
				if o.verbose {
					fmt.Fprintf(os.Stderr, "%-28s %-6s run %d: %s\n", w.name, b.name, r+1, res)
				}
				results[i][j] = append(results[i][j], res)
			}
		}
	}
	printTable(os.Stdout, o, ws, brokers, results)
	return nil
}

// cpu is the broker's CPU time so far (0 if it cannot be read). Workloads
// take it around their data phase only: creating and deleting topics is
// not part of the cost per record.
func (b *broker) cpu() time.Duration {
	d, err := cpuTime(b.pid())
	if err != nil {
		return 0
	}
	return d
}

func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (run inside the module): %w", pkg, err)
	}
	return nil
}

// broker is a broker process this program started.
type broker struct {
	name string
	addr string
	cmd  *exec.Cmd
	logf *os.File
	done chan struct{}
}

func (b *broker) pid() int { return b.cmd.Process.Pid }

func (b *broker) stop() {
	select {
	case <-b.done:
	default:
		b.cmd.Process.Signal(os.Interrupt)
		select {
		case <-b.done:
		case <-time.After(5 * time.Minute):
			b.cmd.Process.Kill()
			<-b.done
		}
	}
	b.logf.Close()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startProcess(name, logPath string, bin string, args ...string) (*broker, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	b := &broker{name: name, cmd: cmd, logf: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); close(b.done) }()
	return b, nil
}

func startQuill(bin, tmp string, extra []string) (*broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "quill-data")
	args := append([]string{"server",
		"--override", "log.dirs=" + dir,
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", port),
		"--override", "admin.listeners=",
	}, extra...)
	b, err := startProcess("quill", filepath.Join(tmp, "quill.log"), bin, args...)
	if err != nil {
		return nil, err
	}
	b.addr = fmt.Sprintf("127.0.0.1:%d", port)
	return b, waitReady(b, filepath.Join(tmp, "quill.log"))
}

func startKfake(bin, tmp string) (*broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b, err := startProcess("kfake", filepath.Join(tmp, "kfake.log"), bin, "-port", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	b.addr = fmt.Sprintf("127.0.0.1:%d", port)
	return b, waitReady(b, filepath.Join(tmp, "kfake.log"))
}

// readyTimeout bounds a broker's start (longer for -scale restarts).
var readyTimeout = 30 * time.Second

func waitReady(b *broker, logPath string) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited at start:\n%s", b.name, out)
		default:
		}
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return pingBroker(ctx, b.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.stop()
	return fmt.Errorf("%s not listening on %s after %v", b.name, b.addr, readyTimeout)
}

// cpuTime is a process's user+system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, counted in clock ticks
	// (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("cannot parse /proc/pid/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("cannot parse /proc/pid/stat")
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(w0 *os.File, o options, ws []workload, brokers []*broker, results [][][]result) {
	w := tabwriter.NewWriter(w0, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "workload\tmetric\t"
	for _, b := range brokers {
		head += b.name + "\t"
	}
	if len(brokers) == 2 {
		head += brokers[0].name + "/" + brokers[1].name + "\t"
	}
	for _, b := range brokers {
		head += b.name + " CPU us/rec\t"
	}
	fmt.Fprintln(w, head)
	for i, wl := range ws {
		if results[i] == nil {
			continue
		}
		for m, metric := range wl.metrics {
			line := wl.name + "\t" + metric + "\t"
			var meds []float64
			for j := range brokers {
				var v []float64
				for _, r := range results[i][j] {
					v = append(v, r.values[m])
				}
				meds = append(meds, median(v))
				line += fmt.Sprintf("%s\t", fmtNum(meds[j]))
			}
			if len(brokers) == 2 {
				if meds[1] > 0 {
					line += fmt.Sprintf("%.2fx\t", meds[0]/meds[1])
				} else {
					line += "-\t"
				}
			}
			for j := range brokers {
				if m > 0 {
					line += "\t"
					continue
				}
				var v []float64
				for _, r := range results[i][j] {
					if r.records > 0 {
						v = append(v, float64(r.cpu.Nanoseconds())/1e3/float64(r.records))
					}
				}
				line += fmt.Sprintf("%.3f\t", median(v))
			}
			fmt.Fprintln(w, line)
		}
	}
	w.Flush()
	fmt.Fprintf(w0, "\nmedians of %d runs; %d CPUs; %s\n", o.runs, numCPU(), time.Now().UTC().Format(time.RFC3339))
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
