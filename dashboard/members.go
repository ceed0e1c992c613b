package dashboard

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/accounts"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// Accounts is the service layer of members, passwords and sessions (accounts.Service):
// the rules (an org keeps an admin, a password's length, a link works once) and the audit
// events are its, not the pages'.
type Accounts interface {
	AddMember(ctx context.Context, org *storage.Org, email, role string) (*accounts.Added, error)
	SetRole(ctx context.Context, org *storage.Org, userID, role string) error
	RemoveMember(ctx context.Context, org *storage.Org, userID string) (*accounts.Removed, error)
	ChangePassword(ctx context.Context, u *storage.User, current, pw, confirm, keepRowID string) error
	LinkUser(ctx context.Context, token string) (*storage.User, error)
	SetPasswordWithLink(ctx context.Context, token, pw, confirm string) (*storage.User, error)
	LogOutEverywhere(ctx context.Context, u *storage.User) (int64, error)
}

// membersPage serves GET /dashboard/{org}/members: admins and members see who has access;
// only admins get the forms.
func (h *Handler) membersPage(q *request) {
	h.showMembers(q, http.StatusOK, nil)
}

// showMembers renders the members page of q's org, changed by edit (a form's input and
// problems, a notice).
func (h *Handler) showMembers(q *request, status int, edit func(p *templates.MembersPage)) {
	ms, err := h.Store.MembersOfOrg(q.r.Context(), q.org.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list members", err)
		return
	}
	page := templates.MembersPage{
		Chrome:  chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: "Members"}),
		OrgName: q.org.Name, Admin: q.admin(),
		Add: templates.MemberForm{Role: storage.RoleMember},
	}
	if q.admin() {
		page.AddAction = urls.DashMembersPage(q.org.Slug)
	}
	for _, m := range ms {
		row := templates.MemberRow{UserID: m.UserID, Email: m.Email, Role: m.Role, LastLogin: "Never",
			MemberSince: m.MemberSince.UTC().Format(timeFormat), Pending: !m.PasswordSet, You: m.UserID == q.visitor.User.ID}
		if m.LastLoginAt != nil {
			row.LastLogin = m.LastLoginAt.UTC().Format(timeFormat)
		}
		if q.admin() {
			row.RoleAction = urls.DashMemberAction(q.org.Slug, m.UserID, "role")
			row.RemoveURL = urls.DashMemberAction(q.org.Slug, m.UserID, "remove")
		}
		page.Members = append(page.Members, row)
	}
	if edit != nil {
		edit(&page)
	}
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.Members(b, page) })
}

// addMember serves POST /dashboard/{org}/members. The set-password link of a new user is
// shown in the direct answer to the POST, once (never behind a redirect; only its hash is
// stored).
func (h *Handler) addMember(q *request) {
	email, role := strings.TrimSpace(q.r.PostForm.Get("email")), q.r.PostForm.Get("role")
	added, err := h.Accounts.AddMember(q.r.Context(), q.org, email, role)
	var problems accounts.Problems
	switch {
	case errors.As(err, &problems):
		h.showMembers(q, http.StatusUnprocessableEntity, func(p *templates.MembersPage) {
			p.Add = templates.MemberForm{Email: email, Role: role, Errors: problems}
		})
		return
	case err != nil:
		h.serverError(q.w, q.r, "add member", err)
		return
	}
	h.Log.InfoContext(q.r.Context(), "member added from the dashboard", "org", q.org.Slug, "member_id", added.User.ID, "user_id", q.visitor.User.ID)
	page := templates.MemberAddedPage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: "Members", URL: urls.DashMembersPage(q.org.Slug)},
			templates.Crumb{Label: added.User.Email}),
		OrgName: q.org.Name, Email: added.User.Email, Role: role, Created: added.Created,
		MembersURL: urls.DashMembersPage(q.org.Slug), ValidFor: "24 hours",
	}
	if added.Link != "" {
		page.Link = urls.SetPasswordLink(h.Provider.Issuer(), added.Link)
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.MemberAdded(b, page) })
}

// memberRoute wraps an admin's action on one member ({user}) of the org; a user who is
// not a member is not found.
func (h *Handler) memberRoute(next func(q *request, m *storage.User)) http.Handler {
	return h.orgRoute(needAdmin, func(q *request) {
		uid := mux.Vars(q.r)["user"]
		_, err := h.Store.Membership(q.r.Context(), q.org.ID, uid)
		if errors.Is(err, storage.ErrNotFound) {
			h.notFound(q.w, q.r)
			return
		}
		if err != nil {
			h.serverError(q.w, q.r, "load member", err)
			return
		}
		u, err := h.Store.UserByID(q.r.Context(), uid)
		if errors.Is(err, storage.ErrNotFound) {
			h.notFound(q.w, q.r)
			return
		}
		if err != nil {
			h.serverError(q.w, q.r, "load member", err)
			return
		}
		next(q, u)
	})
}

// setRole serves POST .../members/{user}/role. Demoting the only admin is refused on the
// page, next to the row, with 409.
func (h *Handler) setRole(q *request, m *storage.User) {
	role := q.r.PostForm.Get("role")
	err := h.Accounts.SetRole(q.r.Context(), q.org, m.ID, role)
	var problems accounts.Problems
	switch {
	case err == nil:
		if m.ID == q.visitor.User.ID {
			q.role = role // an admin who made themselves a member sees the page as one
		}
		h.showMembers(q, http.StatusOK, func(p *templates.MembersPage) {
			p.Notice = m.Email + " is now " + role + "."
		})
	case errors.Is(err, accounts.ErrLastAdmin):
		h.refuseLastAdmin(q, m, "demoted")
	case errors.As(err, &problems):
		h.showMembers(q, http.StatusUnprocessableEntity, func(p *templates.MembersPage) {
			p.RowError(m.ID, strings.Join(problems["role"], " "))
		})
	case errors.Is(err, accounts.ErrNotMember):
		h.notFound(q.w, q.r)
	default:
		h.serverError(q.w, q.r, "change role", err)
	}
}

// refuseLastAdmin answers a change that would leave the org without an admin: the members
// page with 409 and the reason next to the member's row.
func (h *Handler) refuseLastAdmin(q *request, m *storage.User, what string) {
	h.showMembers(q, http.StatusConflict, func(p *templates.MembersPage) {
		p.RowError(m.ID, m.Email+" is the only admin of "+q.org.Name+", so they cannot be "+what+
			". Make someone else an admin first. Nothing was changed.")
	})
}

// removeForm serves GET .../members/{user}/remove: the confirmation.
func (h *Handler) removeForm(q *request, m *storage.User) {
	back := urls.DashMembersPage(q.org.Slug)
	page := templates.MemberRemovePage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: "Members", URL: back},
			templates.Crumb{Label: "Remove " + m.Email}),
		OrgName: q.org.Name, Email: m.Email, Action: urls.DashMemberAction(q.org.Slug, m.ID, "remove"), CancelURL: back,
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.MemberRemove(b, page) })
}

// removeMember serves POST .../members/{user}/remove: the membership ends, and with it the
// member's sessions and grants on the org's servers.
func (h *Handler) removeMember(q *request, m *storage.User) {
	res, err := h.Accounts.RemoveMember(q.r.Context(), q.org, m.ID)
	switch {
	case errors.Is(err, accounts.ErrLastAdmin):
		h.refuseLastAdmin(q, m, "removed")
		return
	case errors.Is(err, accounts.ErrNotMember):
		h.notFound(q.w, q.r)
		return
	case err != nil:
		h.serverError(q.w, q.r, "remove member", err)
		return
	}
	if m.ID == q.visitor.User.ID {
		// An admin who removed themselves has just ended their own session too.
		http.Redirect(q.w, q.r, urls.Login, http.StatusSeeOther)
		return
	}
	msg := m.Email + " was removed and logged out everywhere."
	if res.GrantsErr != nil {
		msg += " Their applications' access could not be revoked right now; revoke it on each server's page."
	} else if res.Grants > 0 {
		msg += " Their applications lost access."
	}
	h.showMembers(q, http.StatusOK, func(p *templates.MembersPage) { p.Notice = msg })
}
