package consent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestBrowserConsentShowsLimitedScopes: a scope from the config that grants some tools and
// resources only, and the built-in mcp:prompts:read, are on the consent page with their
// descriptions like the product page's scopes, each with its checkbox ticked (screenshot
// consent-limited-scopes in testdata/artifacts).
func TestBrowserConsentShowsLimitedScopes(t *testing.T) {
	b := browsertest.Start(t)
	crm := provider.Scope{Name: "crm:read", Description: "Search and read CRM contacts",
		Tools: []string{"search_*", "get_*"}, Resources: []string{"crm://contacts/"}}
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) { c.Scopes = []provider.Scope{crm} }})
	redirect := "http://127.0.0.1:9/callback"
	client, _ := e.CreateClient(provider.ClientSpec{
		ServerID: e.ServerByPath("acme/sales-api").ID, Name: "CRM assistant", Public: true,
		Scopes:       []string{provider.ScopeToolsRead, provider.ScopePromptsRead, crm.Name},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{redirect},
	})
	f := newFlow(oauthConfig(e, client.ID, "", redirect, provider.ScopeToolsRead, crm.Name, provider.ScopePromptsRead))

	step := b.Step(60 * time.Second)
	if err := chromedp.Do(step,
		chromedp.Navigate(f.authURL()),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=approve]`)),
	); err != nil {
		t.Fatalf("log in and reach the consent page: %v", err)
	}
	labels, err := chromedp.Run(step, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('input[name=scope]:checked')].map(i => document.querySelector('label[for="' + i.id + '"]').innerText.replace(/\s+/g, ' ').trim())`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"List available tools mcp:tools:read",
		"Search and read CRM contacts crm:read",
		"Use prompts and argument completions mcp:prompts:read",
	}
	if strings.Join(labels, "\n") != strings.Join(want, "\n") {
		t.Errorf("ticked scopes on the consent page:\n%s\nwant\n%s", strings.Join(labels, "\n"), strings.Join(want, "\n"))
	}
	b.Shot("consent-limited-scopes")
	b.CheckAccessibility("consent page with limited scopes")
	b.CheckLayout("consent page with limited scopes")
}
