package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/quillstream/quill/internal/testutil"
)

// chromiumPath finds Debian's chromium; without it the test fails unless
// QUILL_E2E_ALLOW_SKIP=1.
func consoleChromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("QUILL_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("QUILL_E2E_ALLOW_SKIP") == "1" {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	t.Fatal("chromium not installed (apt-get install chromium); set QUILL_E2E_ALLOW_SKIP=1 to skip")
	return ""
}

// artifactDir is where screenshots go: $QUILL_ARTIFACTS if set, else a
// temp dir of the test.
func consoleArtifactDir(t *testing.T) string {
	if d := os.Getenv("QUILL_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// browser starts headless Chromium, closed in t.Cleanup.
func consoleBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(consoleChromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 860),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a time bound.
func consoleRun(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// consoleEval evaluates a JavaScript expression in the page.
func consoleEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open navigates to a console page and waits until it has rendered.
func consoleOpen(t *testing.T, ctx context.Context, url, page string) {
	t.Helper()
	consoleRun(t, ctx, "open "+url,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#view[data-page=%q][data-loaded]`, page))))
}

func consoleText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	consoleRun(t, ctx, "wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	return strings.TrimSpace(consoleEval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
}

func consoleCount(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return consoleEval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// TestAdminConsole drives the web console in headless Chromium: every page
// loads and shows what was produced; record contents are shown as text,
// never as markup; a screenshot of the overview goes to the artifacts.
func TestAdminConsole(t *testing.T) {
	ctx := consoleBrowser(t)
	b := startAdminBroker(t)
	f := produceFixture(t, b)

	// A record whose value is markup: it must show as text.
	xss := `<img src=x id=pwned onerror="document.title='pwned'">`
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, cl, &kgo.Record{Topic: f.topic, Partition: 2, Key: []byte("<script>k</script>"), Value: []byte(xss)})

	// Overview.
	consoleOpen(t, ctx, b.URL+"/", "overview")
	if got := consoleText(t, ctx, `[data-card=brokers] .value`); got != "1" {
		t.Errorf("overview brokers card %q", got)
	}
	if got := consoleText(t, ctx, `[data-card=controller] .value`); got != "node 1" {
		t.Errorf("overview controller card %q", got)
	}
	if got := consoleText(t, ctx, `[data-card=under-replicated] .value`); got != "0" {
		t.Errorf("overview under-replicated card %q", got)
	}
	if n := consoleCount(t, ctx, `#brokers-table tbody tr`); n != 1 {
		t.Errorf("brokers table has %d rows", n)
	}

	// Topics list and detail.
	consoleOpen(t, ctx, b.URL+"/#/topics", "topics")
	row := fmt.Sprintf(`#topics-table tr[data-topic=%q]`, f.topic)
	if got := consoleText(t, ctx, row+` td:nth-child(2)`); got != "3" {
		t.Errorf("topics row partitions %q", got)
	}
	wantMsgs := strconv.Itoa(3*f.perPartition + f.extra + 1)
	if got := consoleText(t, ctx, row+` td:nth-child(4)`); got != wantMsgs {
		t.Errorf("topics row messages %q, want %s", got, wantMsgs)
	}
	consoleOpen(t, ctx, b.URL+"/#/topics/"+f.topic, "topic")
	if n := consoleCount(t, ctx, `#partitions-table tbody tr`); n != 3 {
		t.Errorf("partitions table has %d rows", n)
	}
	if got := consoleText(t, ctx, `#partitions-table tr[data-partition="0"] td:nth-child(6)`); got != strconv.Itoa(f.perPartition+f.extra) {
		t.Errorf("partition 0 high watermark %q", got)
	}
	consoleRun(t, ctx, "configs", chromedp.WaitVisible(chromedp.CSS(`#configs-table tr[data-config="retention.ms"]`)))
	if got := consoleText(t, ctx, `#configs-table tr[data-config="retention.ms"] td:nth-child(2)`); got != "3600000" {
		t.Errorf("retention.ms shown as %q", got)
	}
	consoleScreenshot(t, ctx, "console-topic.png", false)

	// Message browser: text, JSON and hex.
	consoleOpen(t, ctx, b.URL+"/#/messages/"+f.topic+"?partition=1&offset=2&limit=3&format=text", "messages")
	if n := consoleCount(t, ctx, `#messages-table tbody tr[data-offset]`); n != 3 {
		t.Fatalf("message table has %d rows, want 3", n)
	}
	if got := consoleText(t, ctx, `#messages-table tr[data-offset="2"] td.value`); got != `{"partition":1,"n":2,"note":"<b>not bold</b>"}` {
		t.Errorf("value as text %q", got)
	}
	if got := consoleText(t, ctx, `#messages-table tr[data-offset="2"] td.key`); got != "key-1-2" {
		t.Errorf("key as text %q", got)
	}
	if got := consoleText(t, ctx, `#messages-table tr[data-offset="2"] td.headers`); got != "source: e2e" {
		t.Errorf("headers %q", got)
	}
	if n := consoleCount(t, ctx, `#messages-table b`); n != 0 {
		t.Errorf("record content was parsed as HTML (%d <b> elements)", n)
	}
	consoleEval[bool](t, ctx, `(e => { e.value = "json"; return e.dispatchEvent(new Event("change")) })(document.getElementById("msg-format"))`)
	if got := consoleText(t, ctx, `#messages-table tr[data-offset="2"] td.value`); got != "{\n  \"partition\": 1,\n  \"n\": 2,\n  \"note\": \"<b>not bold</b>\"\n}" {
		t.Errorf("value as JSON %q", got)
	}
	consoleEval[bool](t, ctx, `(e => { e.value = "hex"; return e.dispatchEvent(new Event("change")) })(document.getElementById("msg-format"))`)
	if got := consoleText(t, ctx, `#messages-table tr[data-offset="2"] td.key`); got != "000000  6b 65 79 2d 31 2d 32" {
		t.Errorf("key as hex %q", got)
	}
	// The markup record, read through the form (latest records of partition 2).
	consoleOpen(t, ctx, b.URL+"/#/messages/"+f.topic+"?partition=2&limit=5", "messages")
	xssRow := fmt.Sprintf(`#messages-table tr[data-offset="%d"]`, f.perPartition)
	if got := consoleText(t, ctx, xssRow+` td.value`); got != xss {
		t.Errorf("markup value shown as %q", got)
	}
	title := consoleEval[string](t, ctx, `document.title`)
	if n := consoleCount(t, ctx, `#pwned, #messages-table img, #messages-table script`); n != 0 || title == "pwned" {
		t.Fatalf("record content was injected into the page (elements %d, title %q)", n, title)
	}
	consoleOpen(t, ctx, b.URL+"/#/messages/"+f.topic+"?partition=1&offset=0&limit=4&format=json", "messages")
	consoleScreenshot(t, ctx, "console-messages.png", true)

	// Consumer groups.
	consoleOpen(t, ctx, b.URL+"/#/groups", "groups")
	grow := fmt.Sprintf(`#groups-table tr[data-group=%q]`, f.group)
	// extra on partition 0, and the markup record on partition 2.
	if got := consoleText(t, ctx, grow+` td:nth-child(5)`); got != strconv.Itoa(f.extra+1) {
		t.Errorf("group total lag %q, want %d", got, f.extra+1)
	}
	consoleOpen(t, ctx, b.URL+"/#/groups/"+f.group, "group")
	if got := consoleText(t, ctx, fmt.Sprintf(`#lag-table tr[data-tp="%s/0"] td:nth-child(5)`, f.topic)); got != strconv.Itoa(f.extra) {
		t.Errorf("lag of partition 0 shown as %q", got)
	}
	if got := consoleText(t, ctx, `[data-card=state] .value`); got != "Empty" {
		t.Errorf("group state %q", got)
	}
	if v := consoleText(t, ctx, "#view"); strings.Contains(v, "null") || strings.Contains(v, "undefined") {
		t.Errorf("group page shows a JavaScript null or undefined: %q", v)
	}
	consoleScreenshot(t, ctx, "console-group.png", false)

	// Live charts: produce for a few seconds while the overview polls.
	consoleOpen(t, ctx, b.URL+"/", "overview")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var recs []*kgo.Record
			for j := range 50 {
				recs = append(recs, &kgo.Record{Topic: f.topic, Partition: int32(j % 3),
					Value: fmt.Appendf(nil, `{"tick":%d,"payload":"%s"}`, i, strings.Repeat("x", 200))})
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	cons := b.Client(t, kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	consDone := make(chan struct{})
	go func() { // and a consumer, for the bytes-out line
		defer close(consDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			cons.PollFetches(pctx)
			cancel()
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "chart rates", func() (bool, string) {
		now, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".chart span.muted").textContent`))
		return strings.Contains(now, "now: in") && !strings.Contains(now, "in 0 B"), now
	})
	consoleRun(t, ctx, "settle", chromedp.Sleep(6*time.Second)) // a few more chart points for the picture
	consoleScreenshot(t, ctx, "console.png", true)
	close(stop)
	<-done
	<-consDone
}

// consoleScreenshot saves the page as name in the artifacts dir and, if
// forDocs and QUILL_UPDATE_SCREENSHOTS=1, in docs/images.
func consoleScreenshot(t *testing.T, ctx context.Context, name string, forDocs bool) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(consoleArtifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if forDocs && os.Getenv("QUILL_UPDATE_SCREENSHOTS") == "1" {
		root, err := testutil.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "docs", "images", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
