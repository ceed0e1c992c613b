package templates

import "io"

// ActivityPage is an org's audit log: the events its filters select, newest first, one page
// at a time.
type ActivityPage struct {
	Chrome
	OrgName string
	// Action is the filter form's address (a GET form).
	Action string
	Filter ActivityFilter
	// Servers, Actions and Results are the choices of the filter's selects.
	Servers []Option
	Actions []Option
	Results []Option
	// Errors are the filter's problems by field ("server", "actor", "action", "result",
	// "from", "to"; "" for the page as a whole).
	Errors map[string][]string
	Events []ActivityRow
	// OlderURL is the next page (older events), NewestURL the first; empty when there is
	// none or when this is the first.
	OlderURL, NewestURL string
}

// ActivityFilter is what the filter form was sent with, shown back as sent.
type ActivityFilter struct {
	Server, Actor, Action, Result, From, To string
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// ActivityRow is one event on the activity page.
type ActivityRow struct {
	// Date and Clock are shown (UTC); ISOTime is the machine-readable datetime.
	Date, Clock, ISOTime string
	// Actor is who acted (a name or ID), ActorKind "user", "client", ...
	Actor, ActorKind, ActorID string
	// Action is what happened, in words; ActionCode as stored.
	Action, ActionCode string
	Target, TargetName string
	Server             string
	Result             string
	Refused            bool
	IP, UserAgent      string
	Detail             string
}

// Activity renders an org's audit log.
func (t *Templates) Activity(w io.Writer, p ActivityPage) error {
	return t.render(w, "dash_activity.html", "Activity · "+p.OrgName, p)
}
