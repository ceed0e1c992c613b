package templates

// LoginPage is the data of the login form.
type LoginPage struct {
	// CSRF is the session's anti-forgery token, posted back in the hidden field csrf_token.
	CSRF string
	// ReturnTo is the local path to continue to after logging in (usually the consent URL).
	ReturnTo string
	// Email is echoed back after a failed attempt so the person need not retype it.
	Email string
	// Error explains why the last attempt failed.
	Error string
}

// ConsentPage is the data of the consent page: who asks, for what, and where the answer goes.
type ConsentPage struct {
	CSRF string
	// Request is the original authorization query, posted back and validated again, so
	// nothing on the page is trusted when the decision arrives.
	Request string

	ClientName string
	ClientID   string
	// Unverified is set for clients that registered themselves: their name is their own claim.
	Unverified bool

	ServerName string
	// ServerPath is "org/server".
	ServerPath string
	OrgName    string
	// RedirectHost is where the browser goes next ("localhost:3000", or "the cursor:// app").
	RedirectHost string

	Scopes []ScopeChoice
	// Ignored lists requested scopes this server does not know; they are dropped.
	Ignored []string

	UserEmail string
	// Error is shown above the form after an invalid decision (no scope chosen).
	Error string
}

// ScopeChoice is one checkbox of the consent page.
type ScopeChoice struct {
	Name        string
	Description string
	Checked     bool
}

// ErrorPage says what went wrong and what to do about it.
type ErrorPage struct {
	Title   string
	Message string
	// Action tells the person what to do next.
	Action string
	// Code is the OAuth error code, for the application's developer.
	Code string
	// LogoutCSRF, when set, adds a "Log out" button (e.g. for a user who is not a member of
	// the org and needs to switch accounts), posting back to ReturnTo after logout.
	LogoutCSRF string
	ReturnTo   string
	// BackURL, when set, is a link the person can follow to get going again (BackLabel).
	BackURL, BackLabel string
}

// LoggedOutPage is shown after logout.
type LoggedOutPage struct{}
