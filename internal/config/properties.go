package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// Property is one key/value pair read from a properties file. Line is the
// 1-based line on which the logical line holding the pair starts.
type Property struct {
	Key, Value string
	Line       int
}

// ParseProperties parses data in the Java properties format, as Kafka reads
// server.properties:
//
//   - lines whose first non-blank character is '#' or '!' are comments;
//   - a key ends at the first unescaped '=', ':' or blank; blanks around the
//     separator are skipped, so "k=v", "k: v" and "k v" are the same pair;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped;
//   - escapes \t \n \r \f \uXXXX are decoded, and a backslash before any other
//     character stands for that character.
//
// Unlike java.util.Properties the input is read as UTF-8, not ISO-8859-1, and
// values are trimmed of surrounding white space, as Kafka's ConfigDef does
// when it parses them. Pairs are returned in file order; when a key repeats,
// the caller applying them in order makes the last one win, as Java does.
// The only error is a malformed \u escape.
func ParseProperties(data []byte) ([]Property, error) {
	var (
		props []Property
		lines = splitLines(string(data))
	)
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// Join continuation lines. A comment is never continued, because it
		// is recognised before joining.
		var logical strings.Builder
		for {
			if n := trailingBackslashes(line); n%2 == 1 {
				logical.WriteString(line[:len(line)-1])
				if i+1 >= len(lines) {
					break
				}
				i++
				line = strings.TrimLeft(lines[i], " \t\f")
				continue
			}
			logical.WriteString(line)
			break
		}
		p, err := parsePropertyLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("config: line %d: %w", start, err)
		}
		p.Line = start
		props = append(props, p)
	}
	return props, nil
}

// splitLines splits on \n, \r\n and lone \r, as java.util.Properties does.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// parsePropertyLine splits one logical line (leading blanks already removed)
// into its unescaped key and value.
func parsePropertyLine(line string) (Property, error) {
	// Find the end of the key: the first separator not preceded by an
	// (unescaped) backslash.
	keyEnd := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // skip the escaped character
			continue
		}
		if c == '=' || c == ':' || isBlank(c) {
			keyEnd = i
			break
		}
	}
	rest := line[keyEnd:]
	// Skip blanks, at most one '=' or ':', then blanks again.
	j := 0
	for j < len(rest) && isBlank(rest[j]) {
		j++
	}
	if j < len(rest) && (rest[j] == '=' || rest[j] == ':') {
		j++
	}
	for j < len(rest) && isBlank(rest[j]) {
		j++
	}
	key, err := unescape(line[:keyEnd])
	if err != nil {
		return Property{}, err
	}
	val, err := unescape(rest[j:])
	if err != nil {
		return Property{}, err
	}
	return Property{Key: strings.TrimSpace(key), Value: strings.TrimSpace(val)}, nil
}

// unescape decodes the escapes of the properties format.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			// A lone trailing backslash (only possible at the end of the
			// input) stands for nothing, as in Java.
			break
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return "", fmt.Errorf("malformed \\uXXXX escape in %q", s)
			}
			i += 4
			// Java strings are UTF-16: a surrogate pair arrives as two escapes.
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, ok := hex4(s, i+3); ok {
					if pair := utf16.DecodeRune(r, r2); pair != unicode.ReplacementChar {
						r = pair
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	r, err := strconv.ParseUint(s[i:i+4], 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(r), true
}
