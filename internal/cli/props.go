package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// parseProperties reads Java-properties text: `key=value`, `key: value` or
// `key value` lines, `#` and `!` comments, backslash line continuations and
// the common escapes. It is deliberately small: the client settings files it
// reads are written by hand.
func parseProperties(r io.Reader) (map[string]string, error) {
	props := make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var logical strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if logical.Len() == 0 && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		// A line ending in an odd number of backslashes continues.
		trail := len(line) - len(strings.TrimRight(line, `\`))
		if trail%2 == 1 {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		k, v, err := splitProperty(logical.String())
		logical.Reset()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		props[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical.Len() > 0 {
		k, v, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		props[k] = v
	}
	return props, nil
}

func splitProperty(s string) (string, string, error) {
	// The key ends at the first unescaped '=', ':' or whitespace.
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
	}
	key := unescapeProperty(s[:min(i, len(s))])
	rest := strings.TrimLeft(s[min(i, len(s)):], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	if key == "" {
		return "", "", fmt.Errorf("missing key in %q", s)
	}
	// Kafka trims values when it parses them; trailing blanks are never meant.
	return key, strings.TrimSpace(unescapeProperty(rest)), nil
}

func unescapeProperty(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
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
			if i+4 < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+5], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += 4
					continue
				}
			}
			b.WriteByte('u')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// clientSettings are the --command-config keys the CLI honours.
type clientSettings struct {
	clientID       string
	requestTimeout time.Duration
	security       clientSecurity // TLS and SASL (security_props.go)
}

// loadClientSettings reads and validates a --command-config file. Unknown
// keys produce a warning on warn, not an error, as Kafka's tools do.
func loadClientSettings(path string, warn io.Writer) (clientSettings, error) {
	s := clientSettings{clientID: "quill-cli", requestTimeout: 30 * time.Second}
	if path == "" {
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return s, usageErrorf("--command-config: %v", err)
	}
	defer f.Close()
	props, err := parseProperties(f)
	if err != nil {
		return s, usageErrorf("--command-config %s: %v", path, err)
	}
	sec := map[string]string{}
	for k, v := range props {
		switch {
		case k == "client.id":
			s.clientID = v
		case k == "request.timeout.ms":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms <= 0 {
				return s, usageErrorf("--command-config %s: request.timeout.ms=%q is not a positive number of milliseconds", path, v)
			}
			s.requestTimeout = time.Duration(ms) * time.Millisecond
		case securityKey(k):
			sec[k] = v
		default:
			fmt.Fprintf(warn, "warning: --command-config %s: ignoring unsupported key %s (supported: client.id, request.timeout.ms, security.protocol, sasl.*, ssl.*)\n", path, k)
		}
	}
	if s.security, err = parseClientSecurity(sec, path); err != nil {
		return s, err
	}
	for _, k := range s.security.ignored {
		fmt.Fprintf(warn, "warning: --command-config %s: ignoring %s, unused with security.protocol=%s\n", path, k, s.security.protocol)
	}
	return s, nil
}
