package auth

import (
	"fmt"
	"regexp"
	"strings"
)

// PrincipalRules are ssl.principal.mapping.rules: a list of
// RULE:pattern/replacement/[LU] entries and DEFAULT, tried in order on a
// client certificate's DN. The first RULE whose pattern matches the whole
// DN gives the user name (replacement with $1.. groups, then lower- or
// upper-cased with L or U); DEFAULT keeps the DN. With no match the client
// is refused, as in Kafka.
type PrincipalRules struct {
	rules []principalRule
}

type principalRule struct {
	isDefault bool
	re        *regexp.Regexp
	repl      string
	casing    byte // 0, 'L' or 'U'
}

// ParsePrincipalRules parses ssl.principal.mapping.rules; "" and
// "DEFAULT" give nil (the DN as is).
func ParsePrincipalRules(s string) (*PrincipalRules, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "DEFAULT" {
		return nil, nil
	}
	pr := &PrincipalRules{}
	for s != "" {
		switch {
		case strings.HasPrefix(s, "DEFAULT"):
			pr.rules = append(pr.rules, principalRule{isDefault: true})
			s = s[len("DEFAULT"):]
		case strings.HasPrefix(s, "RULE:"):
			s = s[len("RULE:"):]
			pat, rest, ok := cutUnescaped(s, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: RULE:%s has no /replacement/", s)
			}
			repl, rest, ok := cutUnescaped(rest, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: RULE:%s is not RULE:pattern/replacement/[LU]", pat)
			}
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: pattern %q: %v", pat, err)
			}
			r := principalRule{re: re, repl: repl}
			if rest != "" && (rest[0] == 'L' || rest[0] == 'U') {
				r.casing, rest = rest[0], rest[1:]
			}
			pr.rules = append(pr.rules, r)
			s = rest
		default:
			return nil, fmt.Errorf("ssl.principal.mapping.rules: expected RULE: or DEFAULT at %q", s)
		}
		s = strings.TrimSpace(s)
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: expected ',' at %q", s)
			}
			s = strings.TrimSpace(s[1:])
		}
	}
	return pr, nil
}

// cutUnescaped splits s at the first sep not preceded by a backslash;
// escaped separators lose their backslash.
func cutUnescaped(s string, sep byte) (before, after string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == sep {
			b.WriteByte(sep)
			i++
			continue
		}
		if s[i] == sep {
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", "", false
}

// Map returns the user name for a DN.
func (p *PrincipalRules) Map(dn string) (string, error) {
	if p == nil {
		return dn, nil
	}
	for _, r := range p.rules {
		if r.isDefault {
			return dn, nil
		}
		if !r.re.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.repl)
		switch r.casing {
		case 'L':
			out = strings.ToLower(out)
		case 'U':
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no ssl.principal.mapping.rules rule matches %q", dn)
}
