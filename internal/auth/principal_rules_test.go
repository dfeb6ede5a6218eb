package auth

import "testing"

func TestPrincipalRules(t *testing.T) {
	p, err := ParsePrincipalRules(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=kafka-admin,OU=ServiceUsers,O=Example": "kafka-admin",
		"CN=Alice,OU=Eng,O=Example":                "alice@eng",
		"O=X,cn=bob.smith,C=DE":                    "BOB.SMITH",
	} {
		if got, err := p.Map(dn); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", dn, got, err, want)
		}
	}
	strict, _ := ParsePrincipalRules(`RULE:^CN=([^,]*),O=Quill$/$1/`)
	if got, err := strict.Map("CN=dave,O=Quill"); err != nil || got != "dave" {
		t.Errorf("strict: %q %v", got, err)
	}
	if _, err := strict.Map("CN=eve,O=Other"); err == nil {
		t.Error("a DN matching no rule was mapped")
	}
	slash, err := ParsePrincipalRules(`RULE:^CN=(.*)\/x$/$1/`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := slash.Map("CN=a/x"); got != "a" {
		t.Errorf("escaped slash: %q", got)
	}
	for _, bad := range []string{"RULE:abc", "RULE:(/x/", "NOPE", "DEFAULT;"} {
		if _, err := ParsePrincipalRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, err := ParsePrincipalRules("DEFAULT"); p != nil || err != nil {
		t.Errorf("DEFAULT: %v %v", p, err)
	}
	var none *PrincipalRules
	if got, _ := none.Map("CN=x"); got != "CN=x" {
		t.Errorf("nil rules: %q", got)
	}
}
