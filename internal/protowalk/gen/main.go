// Command gen turns Apache Kafka's JSON message schemas (the *Request.json
// and *Response.json files of clients/src/main/resources/common/message in
// a checkout of apache/kafka, given with -in; they are not committed here)
// into the Go tables protowalk walks: for every field its wire type and the
// versions it is present in, regular or tagged. Only the schemas of the
// requests Quill serves and the responses its inter-broker client reads
// are used: copy those into a directory and point -in at it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type jsonField struct {
	Name           string      `json:"name"`
	Type           string      `json:"type"`
	Versions       string      `json:"versions"`
	TaggedVersions string      `json:"taggedVersions"`
	Tag            *int        `json:"tag"`
	Nullable       string      `json:"nullableVersions"`
	Fields         []jsonField `json:"fields"`
}

type jsonMessage struct {
	APIKey           int         `json:"apiKey"`
	Type             string      `json:"type"`
	Name             string      `json:"name"`
	ValidVersions    string      `json:"validVersions"`
	FlexibleVersions string      `json:"flexibleVersions"`
	Fields           []jsonField `json:"fields"`
	CommonStructs    []jsonField `json:"commonStructs"`
}

// kinds maps a schema primitive type to the kind constant in protowalk.
var kinds = map[string]string{
	"bool": "kBool", "int8": "kInt8", "int16": "kInt16", "uint16": "kUint16",
	"int32": "kInt32", "uint32": "kUint32", "int64": "kInt64", "float64": "kFloat64",
	"uuid": "kUUID", "string": "kString", "bytes": "kBytes", "records": "kRecords",
}

// stripComments drops the // comment lines Kafka's schema files carry.
func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("//")) {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// versions parses "none", "3", "0-7" or "9+" into an inclusive range;
// "none" is the empty range 1-0.
func versions(s string) (lo, hi string) {
	switch {
	case s == "" || s == "none":
		return "1", "0"
	case strings.HasSuffix(s, "+"):
		return strings.TrimSuffix(s, "+"), "vMax"
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		return a, b
	default:
		return s, s
	}
}

type gen struct {
	out    bytes.Buffer
	common map[string][]jsonField
	file   string
}

func (g *gen) fields(fs []jsonField, depth int) {
	ind := strings.Repeat("\t", depth)
	g.out.WriteString("[]field{\n")
	for _, f := range fs {
		lo, hi := versions(f.Versions)
		tag, tlo, thi := "noTag", "1", "0"
		if f.Tag != nil {
			tag = strconv.Itoa(*f.Tag)
			tlo, thi = versions(f.TaggedVersions)
		}
		kind, elem, sub := "", "kNone", []jsonField(nil)
		typ := f.Type
		isArray := strings.HasPrefix(typ, "[]")
		typ = strings.TrimPrefix(typ, "[]")
		k, prim := kinds[typ]
		if !prim {
			k = "kStruct"
			sub = f.Fields
			if sub == nil {
				var ok bool
				if sub, ok = g.common[typ]; !ok {
					log.Fatalf("%s: field %s: unknown type %s", g.file, f.Name, f.Type)
				}
			}
			if !isArray && f.Nullable != "" && f.Nullable != "none" {
				log.Fatalf("%s: field %s: nullable struct not supported", g.file, f.Name)
			}
		}
		if isArray {
			kind, elem = "kArray", k
		} else {
			kind = k
		}
		fmt.Fprintf(&g.out, "%s\t{%s, %s, %s, %s, %s, %s, %s, ", ind, kind, elem, lo, hi, tag, tlo, thi)
		if sub == nil {
			g.out.WriteString("nil")
		} else {
			g.fields(sub, depth+1)
		}
		fmt.Fprintf(&g.out, "}, // %s\n", f.Name)
	}
	g.out.WriteString(ind + "}")
}

// patch brings schemas from Kafka commit 1eb7644349cb up to the versions
// Quill serves, where that commit predates them (checked against kmsg's
// encodings by TestKmsgEncodingsWalk): AlterPartitionReassignments v1
// adds AllowReplicationFactorChange (KIP-1074); DescribeGroups v6,
// DeleteGroups v3 and ConsumerGroupDescribe v1 keep their request bodies
// (KIP-1043). Newer schemas already have them, and patch leaves them be.
func patch(m *jsonMessage) {
	atLeast := func(hi string) {
		lo, cur := versions(m.ValidVersions)
		if c, _ := strconv.Atoi(cur); c < mustAtoi(hi) {
			m.ValidVersions = lo + "-" + hi
		}
	}
	switch m.Name {
	case "AlterPartitionReassignmentsRequest":
		for _, f := range m.Fields {
			if f.Name == "AllowReplicationFactorChange" {
				return
			}
		}
		atLeast("1")
		f := jsonField{Name: "AllowReplicationFactorChange", Type: "bool", Versions: "1+"}
		m.Fields = append(m.Fields[:1], append([]jsonField{f}, m.Fields[1:]...)...)
	case "DescribeGroupsRequest":
		atLeast("6")
	case "DeleteGroupsRequest":
		atLeast("3")
	case "ConsumerGroupDescribeRequest":
		atLeast("1")
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		log.Fatal(err)
	}
	return n
}

func main() {
	in := flag.String("in", "", "directory of Kafka's JSON message schemas (clients/src/main/resources/common/message of apache/kafka)")
	out := flag.String("out", "schema_gen.go", "Go file to write")
	flag.Parse()
	files, err := filepath.Glob(filepath.Join(*in, "*.json"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no schemas in %s", *in)
	}
	sort.Strings(files)
	tables := map[string]map[int]string{"request": {}, "response": {}}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			log.Fatal(err)
		}
		var m jsonMessage
		if err := json.Unmarshal(stripComments(raw), &m); err != nil {
			log.Fatalf("%s: %v", file, err)
		}
		patch(&m)
		g := &gen{common: map[string][]jsonField{}, file: file}
		for _, c := range m.CommonStructs {
			g.common[c.Name] = c.Fields
		}
		lo, hi := versions(m.ValidVersions)
		flex, _ := versions(m.FlexibleVersions)
		if m.FlexibleVersions == "" || m.FlexibleVersions == "none" {
			flex = "vMax"
		}
		fmt.Fprintf(&g.out, "{%q, %s, %s, %s, ", m.Name, lo, hi, flex)
		g.fields(m.Fields, 1)
		g.out.WriteString("}")
		t, ok := tables[m.Type]
		if !ok {
			log.Fatalf("%s: type %q", file, m.Type)
		}
		t[m.APIKey] = g.out.String()
	}
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/protowalk/gen from Apache Kafka's message schemas; DO NOT EDIT.\n\npackage protowalk\n\n")
	for _, typ := range []string{"request", "response"} {
		keys := make([]int, 0, len(tables[typ]))
		for k := range tables[typ] {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		fmt.Fprintf(&b, "var %ss = []*message{\n", typ)
		for _, k := range keys {
			fmt.Fprintf(&b, "%d: %s,\n", k, tables[typ][k])
		}
		b.WriteString("}\n\n")
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("format: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
