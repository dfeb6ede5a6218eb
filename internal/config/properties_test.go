package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	type kv = Property
	tests := []struct {
		name string
		in   string
		want []Property
	}{
		{"equals", "a=1", []kv{{"a", "1", 1}}},
		{"colon", "a: 1", []kv{{"a", "1", 1}}},
		{"space", "a 1", []kv{{"a", "1", 1}}},
		{"tabs and spaces around separator", "  a \t=\t 1  ", []kv{{"a", "1", 1}}},
		{"only one separator is consumed", "a==1", []kv{{"a", "=1", 1}}},
		{"blank then separator then blank", "a = : 1", []kv{{"a", ": 1", 1}}},
		{"key only", "a", []kv{{"a", "", 1}}},
		{"empty value", "a=", []kv{{"a", "", 1}}},
		{"empty key", "=v", []kv{{"", "v", 1}}},
		{"comments and blanks", "# c\n! c\n\n   # indented\na=1", []kv{{"a", "1", 5}}},
		{"hash inside value", "a=x#y", []kv{{"a", "x#y", 1}}},
		{"continuation", "a=1\\\n   2\\\n\t3\nb=4", []kv{{"a", "123", 1}, {"b", "4", 4}}},
		{"continuation in key", "ab\\\n  c=1", []kv{{"abc", "1", 1}}},
		{"even backslashes do not continue", "a=x\\\\\nb=y", []kv{{"a", `x\`, 1}, {"b", "y", 2}}},
		{"comment is never continued", "# c \\\na=1", []kv{{"a", "1", 2}}},
		{"continuation at end of input", "a=v\\", []kv{{"a", "v", 1}}},
		{"escaped separators in key", `a\=b\:c\ d=e`, []kv{{"a=b:c d", "e", 1}}},
		{"escapes", `a=x\t\n\r\f\q\\`, []kv{{"a", "x\t\n\r\f" + `q\`, 1}}},
		{"unicode escape", `a=\u0041\u00e9`, []kv{{"a", "Aé", 1}}},
		{"surrogate pair", `a=\ud83d\ude00`, []kv{{"a", "😀", 1}}},
		{"lone surrogate", `a=\ud83dx`, []kv{{"a", "\uFFFDx", 1}}},
		{"utf-8 passes through", "clé=välue", []kv{{"clé", "välue", 1}}},
		{"crlf", "a=1\r\nb=2\r\n", []kv{{"a", "1", 1}, {"b", "2", 2}}},
		{"lone cr", "a=1\rb=2", []kv{{"a", "1", 1}, {"b", "2", 2}}},
		{"crlf continuation", "a=1\\\r\n 2", []kv{{"a", "12", 1}}},
		{"duplicates kept in order", "a=1\na=2", []kv{{"a", "1", 1}, {"a", "2", 2}}},
		{"value trimmed after unescape", `a=\ x\ `, []kv{{"a", "x", 1}}},
		{"listener value", "listeners=PLAINTEXT://:9092,CONTROLLER://[::1]:9093", []kv{{"listeners", "PLAINTEXT://:9092,CONTROLLER://[::1]:9093", 1}}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProperties([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProperties(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, in := range []string{`a=\u12`, `a=\uXYZW`, "x=1\n\n" + `\u00`, `a=\u`} {
		_, err := ParseProperties([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("ParseProperties(%q) = %v, want an error naming the line", in, err)
		}
	}
}

// escapeProperty writes s so that ParseProperties reads it back unchanged.
func escapeProperty(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=', ':', ' ', '#', '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"a=1\nb: 2\nc 3\n",
		"# comment\n! other\n  key = value with spaces  \n",
		"a=1\\\n   2\\\\\nb=\\u0041\\ud83d\\ude00\n",
		"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093\r\nlog.dirs=/a,/b\r",
		"a\\=b\\ c=\\t\\n\\\\",
		"x=\\u12",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ParseProperties(data)
		if err != nil {
			if !strings.Contains(err.Error(), "line") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		nlines := len(splitLines(string(data)))
		last := 0
		for _, p := range props {
			if p.Line < 1 || p.Line > nlines || p.Line <= last {
				t.Fatalf("line %d out of order or range (previous %d, %d lines)", p.Line, last, nlines)
			}
			last = p.Line
			if p.Value != strings.TrimSpace(p.Value) {
				t.Fatalf("value %q not trimmed", p.Value)
			}
			// What was read must survive being written back and read again.
			line := escapeProperty(p.Key) + "=" + escapeProperty(p.Value)
			again, err := ParseProperties([]byte(line))
			if err != nil {
				t.Fatalf("re-parse of %q: %v", line, err)
			}
			want := Property{Key: strings.TrimSpace(p.Key), Value: p.Value, Line: 1}
			if len(again) != 1 || again[0] != want {
				t.Fatalf("round trip of %q via %q gave %+v", fmt.Sprint(p), line, again)
			}
		}
	})
}
