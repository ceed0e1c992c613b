package dashboard

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// activityPageSize is how many events one page of the activity page shows.
const activityPageSize = 50

// maxActorFilter bounds the actor filter (the longest actor name stored).
const maxActorFilter = 320

// dateLayout is the from and to filters' format, as <input type=date> sends it.
const dateLayout = "2006-01-02"

// actionWords says what each audit action is, for people.
var actionWords = map[string]string{
	audit.LoginSucceeded:      "Logged in",
	audit.LoginFailed:         "Login failed",
	audit.Logout:              "Logged out",
	audit.PasswordChanged:     "Password changed",
	audit.PasswordSet:         "Password set",
	audit.SessionsEnded:       "Sessions ended",
	audit.MemberAdded:         "Member added",
	audit.MemberRoleChanged:   "Member role changed",
	audit.MemberRemoved:       "Member removed",
	audit.ServerCreated:       "Server created",
	audit.ServerUpdated:       "Server changed",
	audit.ClientCreated:       "Client created",
	audit.ClientUpdated:       "Client edited",
	audit.ClientSecretRotated: "Client secret rotated",
	audit.ClientRevoked:       "Client revoked",
	audit.ClientRegistered:    "Client registered (DCR)",
	audit.RegistrationRefused: "Registration refused",
	audit.ConsentGranted:      "Access approved",
	audit.ConsentRevoked:      "Access revoked",
	audit.RefreshTokenReuse:   "Refresh token reused: grant revoked",
	audit.CodeReplay:          "Authorization code replayed: grant revoked",
	audit.KeyRotated:          "Signing key rotated",
}

// ActionWords is the action in words, or as stored for an action this version does not
// know (recorded by a newer one).
func ActionWords(action string) string {
	if w, ok := actionWords[action]; ok {
		return w
	}
	return action
}

var resultWords = map[string]string{audit.OK: "OK", audit.Refused: "Refused", audit.Failed: "Failed"}

// activity serves GET /dashboard/{org}/activity to the org's admins: its audit events,
// newest first, filtered by the GET form and paged backwards with before=<event ID>. A
// filter value that cannot be used is named next to its field and the events are not
// listed until it is fixed: showing everything instead would answer another question.
func (h *Handler) activity(q *request) {
	ctx := q.r.Context()
	servers, err := h.Store.ServersOfOrg(ctx, q.org.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list servers", err)
		return
	}
	form := q.r.URL.Query()
	f, shown, problems := parseActivityFilter(form, servers)
	f.OrgID = q.org.ID
	self := urls.DashActivityPage(q.org.Slug)
	page := templates.ActivityPage{
		Chrome:  chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: "Activity"}),
		OrgName: q.org.Name, Action: self, Filter: shown, Errors: problems,
	}
	for _, s := range servers {
		page.Servers = append(page.Servers, templates.Option{Value: s.Path(), Label: s.Name + " (" + s.Path() + ")", Selected: s.Path() == shown.Server})
	}
	for _, a := range audit.Actions {
		page.Actions = append(page.Actions, templates.Option{Value: a, Label: ActionWords(a), Selected: a == shown.Action})
	}
	for _, r := range []string{audit.OK, audit.Refused, audit.Failed} {
		page.Results = append(page.Results, templates.Option{Value: r, Label: resultWords[r], Selected: r == shown.Result})
	}
	status := http.StatusOK
	if len(problems) > 0 {
		status = http.StatusBadRequest
	} else {
		f.Limit = activityPageSize + 1 // one more tells whether there is an older page
		events, err := h.Store.AuditEvents(ctx, f)
		if err != nil {
			h.serverError(q.w, q.r, "list audit events", err)
			return
		}
		more := len(events) > activityPageSize
		if more {
			events = events[:activityPageSize]
		}
		for _, e := range events {
			page.Events = append(page.Events, activityRow(e))
		}
		if more {
			page.OlderURL = pageURL(self, form, events[len(events)-1].ID)
		}
		if f.BeforeID > 0 {
			page.NewestURL = pageURL(self, form, 0)
		}
	}
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.Activity(b, page) })
}

// parseActivityFilter reads the filter form: the storage filter, the values to show back,
// and the problems by field.
func parseActivityFilter(form url.Values, servers []storage.Server) (storage.AuditFilter, templates.ActivityFilter, map[string][]string) {
	var f storage.AuditFilter
	shown := templates.ActivityFilter{
		Server: form.Get("server"), Actor: strings.TrimSpace(form.Get("actor")), Action: form.Get("action"),
		Result: form.Get("result"), From: strings.TrimSpace(form.Get("from")), To: strings.TrimSpace(form.Get("to")),
	}
	problems := map[string][]string{}
	if shown.Server != "" {
		if !slices.ContainsFunc(servers, func(s storage.Server) bool { return s.Path() == shown.Server }) {
			problems["server"] = append(problems["server"], "Choose one of this organization's servers.")
		}
		f.ServerPath = shown.Server
	}
	if len(shown.Actor) > maxActorFilter || strings.ContainsFunc(shown.Actor, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		problems["actor"] = append(problems["actor"], "Enter at most 320 characters of an email, a client ID or a name, without control characters.")
	}
	f.Actor = shown.Actor
	if shown.Action != "" && !slices.Contains(audit.Actions, shown.Action) {
		problems["action"] = append(problems["action"], "Choose an action from the list.")
	}
	f.Action = shown.Action
	if shown.Result != "" && resultWords[shown.Result] == "" {
		problems["result"] = append(problems["result"], "Choose ok, refused or failed.")
	}
	f.Result = shown.Result
	if shown.From != "" {
		t, err := time.Parse(dateLayout, shown.From)
		if err != nil {
			problems["from"] = append(problems["from"], "Enter a date as YYYY-MM-DD.")
		}
		f.Since = t
	}
	if shown.To != "" {
		t, err := time.Parse(dateLayout, shown.To)
		switch {
		case err != nil:
			problems["to"] = append(problems["to"], "Enter a date as YYYY-MM-DD.")
		case !f.Since.IsZero() && t.Before(f.Since):
			problems["to"] = append(problems["to"], "The end date is before the start date.")
		default:
			f.Until = t.AddDate(0, 0, 1) // the whole day
		}
	}
	if b := form.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			problems[""] = append(problems[""], "This page link is broken: open the newest events and page from there.")
		}
		f.BeforeID = id
	}
	if len(problems) == 0 {
		problems = nil
	}
	return f, shown, problems
}

// pageURL is the activity page with form's filters and before (0: the newest page).
func pageURL(self string, form url.Values, before int64) string {
	v := url.Values{}
	for _, k := range []string{"server", "actor", "action", "result", "from", "to"} {
		if s := form.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return self
	}
	return self + "?" + v.Encode()
}

func activityRow(e storage.AuditEvent) templates.ActivityRow {
	actor := e.ActorName
	if actor == "" {
		actor = e.ActorID
	}
	if actor == "" {
		actor = e.ActorKind
	}
	result := resultWords[e.Result]
	if result == "" {
		result = e.Result
	}
	return templates.ActivityRow{
		Date: e.At.UTC().Format(dateLayout), Clock: e.At.UTC().Format("15:04:05 UTC"), ISOTime: e.At.UTC().Format(time.RFC3339),
		Actor: actor, ActorKind: e.ActorKind, ActorID: e.ActorID,
		Action: ActionWords(e.Action), ActionCode: e.Action,
		Target: e.Target, TargetName: e.TargetName, Server: e.ServerPath,
		Result: result, Refused: e.Result != audit.OK,
		IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail,
	}
}

// refusedActions names the admin action each change route of the dashboard makes, for the
// record of a member's refused attempt (forbidden). A route missing here is still refused,
// and logged, but not recorded.
var refusedActions = map[string]string{
	urls.DashNewServer:          audit.ServerCreated,
	urls.DashSettings:           audit.ServerUpdated,
	urls.DashClients:            audit.ClientCreated,
	urls.DashClient + "/rotate": audit.ClientSecretRotated,
	urls.DashClient + "/edit":   audit.ClientUpdated,
	urls.DashClient + "/revoke": audit.ClientRevoked,
	urls.DashMembers:            audit.MemberAdded,
	urls.DashMember + "/role":   audit.MemberRoleChanged,
	urls.DashMember + "/remove": audit.MemberRemoved,
}

// recordRefused records a member's attempt at an admin change (a POST; a page only an
// admin may see is refused without a record), as refused, in the org of the request.
func (h *Handler) recordRefused(q *request) {
	r := q.r
	if r.Method != http.MethodPost || q.visitor.User == nil {
		return
	}
	var tmpl string
	if route := mux.CurrentRoute(r); route != nil {
		tmpl, _ = route.GetPathTemplate()
	}
	action, ok := refusedActions[tmpl]
	if !ok {
		return
	}
	vars := mux.Vars(r)
	e := audit.Event{
		Actor:  audit.FromRequest(r, audit.KindUser, q.visitor.User.ID, q.visitor.User.Email),
		Action: action, Result: audit.Refused, Target: vars["client"] + vars["user"],
		Detail: "only an admin may do this; the visitor is a " + q.role,
	}
	if q.org != nil {
		e.OrgID = q.org.ID
	}
	if vars["server"] != "" && urls.ValidSlug(vars["org"]) && urls.ValidSlug(vars["server"]) {
		e.ServerPath = urls.ServerPath(vars["org"], vars["server"])
	}
	h.Audit.Record(r.Context(), e)
}
