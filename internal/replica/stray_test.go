package replica

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
)

// strayImage is node 1's view: "kept" lists node 1; "moved" no longer
// does (reassigned away while node 1 was down); "recreated" is a new topic
// with an old name; "deleted" is gone.
func strayImage() *metadata.Image {
	img := metadata.Empty()
	img.Topics = map[string]*metadata.Topic{}
	img.TopicIDs = map[metadata.UUID]*metadata.Topic{}
	add := func(name string, id byte, replicas ...int32) {
		t := &metadata.Topic{Name: name, ID: metadata.UUID{id}, Partitions: []metadata.Partition{
			{ID: 0, Replicas: replicas, ISR: replicas, Leader: replicas[0], LeaderEpoch: 1}}}
		img.Topics[name], img.TopicIDs[t.ID] = t, t
	}
	add("kept", 1, 1, 2)
	add("moved", 2, 2, 3)
	add("recreated", 9, 2, 3)
	return img
}

func openStrayLogs(t *testing.T, dir string) *qlog.Manager {
	t.Helper()
	logs, err := qlog.OpenManager([]string{dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

func TestRemoveStray(t *testing.T) {
	dir := t.TempDir()
	// The directories as node 1 left them: it hosted all four topics.
	logs := openStrayLogs(t, dir)
	for name, id := range map[string]byte{"kept": 1, "moved": 2, "recreated": 3, "deleted": 4} {
		if _, err := logs.GetOrCreate(name, 0, [16]byte{id}, qlog.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}

	logs = openStrayLogs(t, dir)
	defer logs.Close()
	m := NewManager(1, logs, func(*metadata.Image, *metadata.Topic) (Settings, qlog.Config) {
		return Settings{Recompress: -1}, qlog.DefaultConfig()
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	img := strayImage()
	m.Apply(nil, img)

	removed, refused := m.RemoveStray(img)
	if refused {
		t.Fatal("refused")
	}
	var names []string
	for _, d := range removed {
		names = append(names, filepath.Base(d))
	}
	slices.Sort(names)
	if want := []string{"deleted-0", "moved-0", "recreated-0"}; !slices.Equal(names, want) {
		t.Fatalf("removed %v, want %v", names, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept-0")); err != nil {
		t.Fatalf("kept-0: %v", err)
	}
	if m.Get("kept", 0) == nil {
		t.Fatal("kept-0 is no longer hosted")
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Fatalf("%s still there: %v", n, err)
		}
	}
	if again, _ := m.RemoveStray(img); len(again) != 0 {
		t.Fatalf("second pass removed %v", again)
	}
}

// An image that knows none of the topics on disk (a lost metadata log)
// removes nothing.
func TestRemoveStrayRefusesUnknownEverything(t *testing.T) {
	dir := t.TempDir()
	logs := openStrayLogs(t, dir)
	if _, err := logs.GetOrCreate("orders", 0, [16]byte{5}, qlog.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	logs = openStrayLogs(t, dir)
	defer logs.Close()
	m := NewManager(1, logs, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	removed, refused := m.RemoveStray(metadata.Empty())
	if !refused || len(removed) != 0 {
		t.Fatalf("removed %v refused %v", removed, refused)
	}
	if _, err := os.Stat(filepath.Join(dir, "orders-0")); err != nil {
		t.Fatal(err)
	}
}
