package templates

import "io"

// MembersPage lists the members of an org; admins also get the forms.
type MembersPage struct {
	Chrome
	OrgName string
	// Admin shows the forms; a member sees the list only.
	Admin   bool
	Members []MemberRow
	// AddAction and Add are the Add member form (admins only).
	AddAction string
	Add       MemberForm
	// Notice says what was just done ("Role changed.").
	Notice string
}

// MemberRow is one member in the members table.
type MemberRow struct {
	UserID, Email, Role string
	LastLogin           string
	MemberSince         string
	// Pending says the user has not set a password yet.
	Pending bool
	// You marks the visitor's own row.
	You bool
	// RoleAction and RemoveURL are set for admins.
	RoleAction, RemoveURL string
	// Error is shown next to the row (the last admin cannot be demoted).
	Error string
}

// MemberForm is the Add member form's input and its problems by field.
type MemberForm struct {
	Email, Role string
	Errors      map[string][]string
}

// MemberAddedPage shows the result of adding a member, with the one-time set-password
// link when one was made (shown once).
type MemberAddedPage struct {
	Chrome
	OrgName, Email, Role string
	Created              bool
	// Link is the set-password URL; ValidFor says how long it works.
	Link, ValidFor string
	MembersURL     string
}

// MemberRemovePage asks to confirm removing a member.
type MemberRemovePage struct {
	Chrome
	OrgName, Email    string
	Action, CancelURL string
}

// AccountPage is the logged-in user's account: change password and sessions.
type AccountPage struct {
	Chrome
	Email string
	// PasswordAction and Password are the change-password form.
	PasswordAction string
	Password       PasswordForm
	// Changed says the password was just changed (and the other sessions ended).
	Changed  bool
	Sessions []SessionRow
	// EndSessionsAction is the "Log out everywhere" form.
	EndSessionsAction string
}

// PasswordForm holds the problems of a password form by field ("current", "password",
// "confirm"; "" for the form). Passwords are never echoed back.
type PasswordForm struct {
	Errors map[string][]string
}

// SessionRow is one browser session of the user.
type SessionRow struct {
	Created, LastSeen, IP, UserAgent string
	// Current marks the session of this browser.
	Current bool
}

// SetPasswordPage is the page of a one-time set-password link (the person is not logged
// in, so it uses the login page's layout).
type SetPasswordPage struct {
	Email, Token, CSRF string
	Form               PasswordForm
	// Done says the password was set; the page then leads to the login.
	Done     bool
	LoginURL string
}

// Members renders the members page of an org.
func (t *Templates) Members(w io.Writer, p MembersPage) error {
	return t.render(w, "dash_members.html", "Members of "+p.OrgName, p)
}

// MemberAdded renders the result of adding a member.
func (t *Templates) MemberAdded(w io.Writer, p MemberAddedPage) error {
	return t.render(w, "dash_memberadded.html", "Member added", p)
}

// MemberRemove renders the confirmation before removing a member.
func (t *Templates) MemberRemove(w io.Writer, p MemberRemovePage) error {
	return t.render(w, "dash_memberremove.html", "Remove "+p.Email, p)
}

// Account renders the account page.
func (t *Templates) Account(w io.Writer, p AccountPage) error {
	return t.render(w, "dash_account.html", "Account", p)
}

// SetPassword renders the page of a set-password link.
func (t *Templates) SetPassword(w io.Writer, p SetPasswordPage) error {
	title := "Set your password"
	if p.Done {
		title = "Password set"
	}
	return t.render(w, "setpassword.html", title, p)
}

// RowError shows msg next to the row of the member userID.
func (p *MembersPage) RowError(userID, msg string) {
	for i := range p.Members {
		if p.Members[i].UserID == userID {
			p.Members[i].Error = msg
		}
	}
}
