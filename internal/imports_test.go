// Package internal_test enforces the dependency rules of DESIGN.md: which
// internal packages each package may import.
package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/quillstream/quill/"

// allowed lists, per package, the internal packages it may import.
var allowed = map[string][]string{
	"internal/record":      {},
	"internal/config":      {},
	"internal/metadata":    {},
	"internal/log":         {"internal/record"},
	"internal/replica":     {"internal/log", "internal/record", "internal/metadata"},
	"internal/controller":  {"internal/metadata", "internal/log", "internal/record"},
	"internal/group":       {},
	"internal/txn":         {"internal/group"}, // the coordinator-partition hash
	"internal/auth":        {"internal/metadata"},
	"internal/interbroker": {"internal/metadata", "internal/auth", "internal/protowalk"},
	"internal/protowalk":   {}, // request/response structure checks (decision 0013)
	"internal/offsetpoll":  {},
	"internal/admin":       {"internal/offsetpoll"},
	"internal/cli":         {"internal/offsetpoll"},
	"internal/testutil":    {},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/quillstream/quill/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok || !strings.HasPrefix(dep, "internal/") {
				continue
			}
			if dep == "internal/server" && pkg != "cmd/quill" {
				t.Errorf("%s imports internal/server: only cmd/quill may", pkg)
			}
			rules, ok := allowed[pkg]
			if !ok {
				continue // cmd/quill, internal/server and tests may import anything internal
			}
			okDep := false
			for _, a := range rules {
				okDep = okDep || a == dep
			}
			if !okDep {
				t.Errorf("%s imports %s; DESIGN.md allows only %v", pkg, dep, rules)
			}
		}
	}
}
