package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/configuration.md")

const docPath = "../../docs/configuration.md"

func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

func mdDefault(d Def) string {
	if d.Default == "" {
		return "*(none)*"
	}
	return "`" + d.Default + "`"
}

func mdDoc(d Def) string {
	doc := d.Doc
	if d.Ignored {
		doc = "**Ignored.** " + doc
	}
	if d.Note != "" {
		doc += " *Quill:* " + d.Note
	}
	return mdEscape(doc)
}

// docSections returns the generated part of each marked section.
func docSections() map[string]string {
	var broker, topic, ignored strings.Builder
	broker.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	for _, d := range BrokerDefs() {
		fmt.Fprintf(&broker, "| `%s` | %s | %s | %s |\n", d.Name, d.Type, mdDefault(d), mdDoc(d))
	}
	topic.WriteString("| Key | Type | Default | Broker keys (first set wins) | Description |\n|---|---|---|---|---|\n")
	for _, d := range TopicDefs() {
		syns := make([]string, len(d.BrokerSynonyms))
		for i, s := range d.BrokerSynonyms {
			syns[i] = "`" + s + "`"
		}
		fmt.Fprintf(&topic, "| `%s` | %s | %s | %s | %s |\n", d.Name, d.Type, mdDefault(d), strings.Join(syns, ", "), mdDoc(d))
	}
	for _, defs := range [][]Def{BrokerDefs(), TopicDefs()} {
		for _, d := range defs {
			if d.Ignored {
				fmt.Fprintf(&ignored, "- `%s`: %s\n", d.Name, mdEscape(d.Note))
			}
		}
	}
	return map[string]string{"broker-keys": broker.String(), "topic-keys": topic.String(), "ignored-keys": ignored.String()}
}

// TestDocsUpToDate fails when the tables in docs/configuration.md differ from
// the code. Run `go test ./internal/config -run TestDocsUpToDate -update` to
// rewrite them.
func TestDocsUpToDate(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	out := doc
	for name, body := range docSections() {
		begin := "<!-- BEGIN GENERATED " + name + " -->\n"
		end := "<!-- END GENERATED " + name + " -->"
		i := strings.Index(out, begin)
		j := strings.Index(out, end)
		if i < 0 || j < i {
			t.Fatalf("%s: markers %q ... %q missing", docPath, strings.TrimSpace(begin), end)
		}
		out = out[:i+len(begin)] + body + out[j:]
	}
	if out == doc {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	abs, _ := filepath.Abs(docPath)
	t.Errorf("%s is out of date; run: go test ./internal/config -run TestDocsUpToDate -update", abs)
}
