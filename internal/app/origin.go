package app

import (
	"bytes"
	"net/http"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/templates"
)

// samePagePost refuses a browser-flow POST (login, consent, logout, every dashboard form)
// that a browser says came from another origin than the issuer's (httpx.CrossSitePost):
// 403 with an HTML page. It is the second line behind the CSRF token, and the one that
// holds if a token ever leaks; requests that carry neither Origin nor Sec-Fetch-Site pass
// on to the CSRF check.
func (a *App) samePagePost(pages *templates.Templates, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		why := httpx.CrossSitePost(r, a.cfg.Issuer)
		if why == "" {
			next.ServeHTTP(w, r)
			return
		}
		a.log.WarnContext(r.Context(), "cross-site form refused", "path", r.URL.Path, "why", why, "ip", httpx.ClientIP(r))
		var buf bytes.Buffer
		err := pages.Error(&buf, templates.ErrorPage{Title: "This form came from another site",
			Message: "The request was refused because " + why + ".",
			Action:  "If you submitted it yourself, open " + a.cfg.Issuer + " in your browser and try again from there."})
		if err != nil {
			http.Error(w, "This form came from another site: open "+a.cfg.Issuer+" and try again.", http.StatusForbidden)
			return
		}
		httpx.PageHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = buf.WriteTo(w)
	})
}
