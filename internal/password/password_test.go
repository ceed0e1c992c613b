package password_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/password"
)

func TestHashAndVerify(t *testing.T) {
	const pw = "correct horse battery staple"
	h1, err := password.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := password.Hash(pw)
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h1) {
		t.Errorf("hash %q is not PHC argon2id with the OWASP parameters", h1)
	}
	if strings.Contains(h1, pw) {
		t.Error("hash contains the password")
	}
	for _, h := range []string{h1, h2} {
		if ok, err := password.Verify(h, pw); !ok || err != nil {
			t.Errorf("Verify(right password) = %v, %v", ok, err)
		}
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		if ok, err := password.Verify(h1, wrong); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, _ := password.Hash("x")
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":  strings.Replace(good, "v=19", "v=16", 1),
		"bad params":   strings.Join([]string{"", parts[1], parts[2], "m=x", parts[4], parts[5]}, "$"),
		"bad salt":     strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"bad key":      strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "!!"}, "$"),
		"missing part": strings.Join(parts[:5], "$"),
	} {
		ok, err := password.Verify(h, "x")
		if ok || err == nil {
			t.Errorf("%s: Verify = %v, %v; want false and an error", name, ok, err)
		}
	}
}

func TestGenerateAndDummy(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		p := password.Generate()
		if len(p) != 20 || len(p) < password.MinLength || !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(p) {
			t.Fatalf("Generate() = %q", p)
		}
		if seen[p] {
			t.Fatalf("Generate() repeated %q", p)
		}
		seen[p] = true
	}
	d := password.DummyHash()
	if ok, err := password.Verify(d, "no such user"); ok || err != nil {
		t.Errorf("DummyHash verifies a guess: %v %v", ok, err)
	}
}
