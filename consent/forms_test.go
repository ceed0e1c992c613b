package consent_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/conexor/conexor/provider"
)

// The pages' forms, read the way a browser reads them, so tests post exactly what a
// person's browser would (CSRF token and hidden fields included).

// htmlForm is a <form> of a page.
type htmlForm struct {
	action, method string
	inputs         []htmlField
	buttons        []htmlField
}

type htmlField struct {
	name, value, typ string
	checked          bool
}

// values is what submitting the form with the button named "name=value" (or the first
// submit button when empty) sends.
func (f *htmlForm) values(button string) url.Values {
	v := url.Values{}
	for _, in := range f.inputs {
		if in.name == "" {
			continue
		}
		if (in.typ == "checkbox" || in.typ == "radio") && !in.checked {
			continue
		}
		v.Add(in.name, in.value)
	}
	for _, bt := range f.buttons {
		if bt.name != "" && (button == bt.name+"="+bt.value) {
			v.Set(bt.name, bt.value)
		}
	}
	return v
}

// forms parses every form of an HTML page.
func forms(t testing.TB, body string) []*htmlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	var out []*htmlForm
	var cur *htmlForm
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				action, _ := attr(n, "action")
				method, _ := attr(n, "method")
				cur = &htmlForm{action: action, method: strings.ToLower(method)}
				out = append(out, cur)
			case "input":
				if cur != nil {
					name, _ := attr(n, "name")
					val, _ := attr(n, "value")
					typ, _ := attr(n, "type")
					_, checked := attr(n, "checked")
					cur.inputs = append(cur.inputs, htmlField{name: name, value: val, typ: typ, checked: checked})
				}
			case "button":
				if cur != nil {
					name, _ := attr(n, "name")
					val, _ := attr(n, "value")
					cur.buttons = append(cur.buttons, htmlField{name: name, value: val, typ: "submit"})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			cur = nil
		}
	}
	walk(doc)
	return out
}

func findForm(t testing.TB, p *page, action string) *htmlForm {
	t.Helper()
	for _, f := range forms(t, p.body) {
		if f.action == action && f.method == "post" {
			return f
		}
	}
	t.Fatalf("no POST form to %s on the page at %s (status %d):\n%s", action, p.url, p.status, p.body)
	return nil
}

// consentScopes lists the scope checkboxes of a consent page with their ticked state.
func consentScopes(t testing.TB, p *page) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, in := range findForm(t, p, "/oauth/consent").inputs {
		if in.name == "scope" && in.typ == "checkbox" {
			out[in.value] = in.checked
		}
	}
	return out
}

// untick removes scopes from a consent form submission.
func untick(scopes ...string) func(url.Values) {
	return func(v url.Values) {
		var keep []string
		for _, s := range v["scope"] {
			if !provider.ExactScopeStrategy(scopes, s) {
				keep = append(keep, s)
			}
		}
		v["scope"] = keep
	}
}
