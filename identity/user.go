package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

var (
	emailRE  = regexp.MustCompile(`^[^\s@]+@[^\s@]+$`)
	mobileRE = regexp.MustCompile(`^\+?[0-9]{6,20}$`)
)

// userNotFound is the answer for a user that does not exist or that the
// caller may not see.
func userNotFound(id string) error {
	return atelier.CodeUserNotFound.Errorf("The user %q does not exist.", id)
}

// publicUser returns u without its secrets (hashes, sealed seed).
func publicUser(u *atelier.User) *atelier.User {
	c := *u
	c.PasswordHash, c.PasswordHistory, c.TOTPSecret = "", nil, ""
	return &c
}

// checkUserSpec validates the fields spec sets and returns them normalised:
// trimmed, the email lower-cased. Passwords are checked elsewhere.
func checkUserSpec(spec atelier.UserSpec) (atelier.UserSpec, error) {
	str := func(p *string, fn func(string) (string, error)) (*string, error) {
		if p == nil {
			return nil, nil
		}
		v, err := fn(*p)
		return &v, err
	}
	var err error
	if spec.Email, err = str(spec.Email, func(v string) (string, error) {
		v = normalizeEmail(v)
		if len(v) > maxNameLen || !emailRE.MatchString(v) {
			return "", atelier.CodeInvalidParam.Errorf("The email must be an address like name@example.com of at most %d characters.", maxNameLen).WithField("email")
		}
		return v, nil
	}); err != nil {
		return spec, err
	}
	if spec.UserName, err = str(spec.UserName, func(v string) (string, error) {
		return checkName("user_name", "user name", v, true)
	}); err != nil {
		return spec, err
	}
	if spec.DisplayName, err = str(spec.DisplayName, func(v string) (string, error) {
		return checkName("display_name", "display name", v, false)
	}); err != nil {
		return spec, err
	}
	if spec.Mobile, err = str(spec.Mobile, func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if v != "" && !mobileRE.MatchString(v) {
			return "", atelier.CodeInvalidParam.Errorf("The mobile must be 6 to 20 digits, optionally after a +.").WithField("mobile")
		}
		return v, nil
	}); err != nil {
		return spec, err
	}
	if spec.Role, err = str(spec.Role, func(v string) (string, error) {
		if v != atelier.RoleAdmin && v != atelier.RoleMember {
			return "", atelier.CodeInvalidParam.Errorf("The role must be %q or %q.", atelier.RoleAdmin, atelier.RoleMember).WithField("role")
		}
		return v, nil
	}); err != nil {
		return spec, err
	}
	if spec.Status, err = str(spec.Status, func(v string) (string, error) {
		if v != atelier.UserActive && v != atelier.UserDisabled {
			return "", atelier.CodeInvalidParam.Errorf("The status must be %q or %q.", atelier.UserActive, atelier.UserDisabled).WithField("status")
		}
		return v, nil
	}); err != nil {
		return spec, err
	}
	spec.OrgID, _ = str(spec.OrgID, func(v string) (string, error) { return strings.TrimSpace(v), nil })
	return spec, nil
}

// checkUserOrg checks that orgID ("" = none) is an organization of tenantID.
func (s *Service) checkUserOrg(ctx context.Context, tenantID string, orgID *string) error {
	if orgID == nil || *orgID == "" {
		return nil
	}
	o, err := s.st.GetOrg(ctx, *orgID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.TenantID != tenantID) {
		return atelier.CodeInvalidParam.Errorf("The organization %q does not exist in the tenant.", *orgID).WithField("org_id")
	} else if err != nil {
		return fmt.Errorf("identity: get org: %w", err)
	}
	return nil
}

// CreateUser creates a user in tenantID ("" = the caller's). The email is
// required, the user name defaults to it, the role to member, the status to
// active; the password must meet the tenant's policy.
func (s *Service) CreateUser(ctx context.Context, tenantID string, spec atelier.UserSpec) (_ *atelier.User, err error) {
	ev := &atelier.AuditEvent{Action: "user.create"}
	defer s.record(ctx, ev, &err)
	_, tenantID, err = s.tenantScope(ctx, tenantID, false)
	ev.TenantID = tenantID
	if err != nil {
		return nil, err
	}
	if spec.Email == nil {
		return nil, atelier.CodeInvalidParam.Errorf("The email is required.").WithField("email")
	}
	if spec.Password == nil {
		return nil, atelier.CodeInvalidParam.Errorf("The password is required.").WithField("password")
	}
	if spec, err = checkUserSpec(spec); err != nil {
		return nil, err
	}
	if err := s.checkUserOrg(ctx, tenantID, spec.OrgID); err != nil {
		return nil, err
	}
	hash, _, err := s.newPasswordHash(ctx, &atelier.User{TenantID: tenantID}, *spec.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &atelier.User{
		ID:                atelier.NewID(),
		TenantID:          tenantID,
		Email:             *spec.Email,
		Name:              *spec.Email,
		Role:              atelier.RoleMember,
		Status:            atelier.UserActive,
		PasswordHash:      hash,
		PasswordChangedAt: now,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	applyUserSpec(u, spec)
	if err := s.insertUser(ctx, u); err != nil {
		return nil, storeError("create user", err, atelier.Code{}, atelier.CodeUserExists)
	}
	ev.Target = u.ID
	return publicUser(u), nil
}

// applyUserSpec sets the fields that a checked spec sets. It has no side
// effects, so it can run inside store updaters.
func applyUserSpec(u *atelier.User, spec atelier.UserSpec) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Email, spec.Email)
	set(&u.Name, spec.UserName)
	set(&u.DisplayName, spec.DisplayName)
	set(&u.Mobile, spec.Mobile)
	set(&u.Role, spec.Role)
	set(&u.Status, spec.Status)
	set(&u.OrgID, spec.OrgID)
	if spec.MFA != nil {
		u.MFA = *spec.MFA
	}
}

// ListUsers returns the users of tenantID ("" = the caller's), without
// secrets; admins and the tenant's apps may.
func (s *Service) ListUsers(ctx context.Context, tenantID string) ([]*atelier.User, error) {
	tenantID, err := s.listScope(ctx, tenantID, true)
	if err != nil {
		return nil, err
	}
	users, err := s.st.ListUsers(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("identity: list users: %w", err)
	}
	return mapAll(users, publicUser), nil
}

// lookupUser returns the user id names ("me": the caller) if p may see it.
func (s *Service) lookupUser(ctx context.Context, p *atelier.Principal, id string) (*atelier.User, error) {
	if id == me {
		if p.UserID == "" {
			return nil, userNotFound(id)
		}
		id = p.UserID
	}
	u, err := s.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(p, u.TenantID)) {
		return nil, userNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("identity: get user: %w", err)
	}
	return u, nil
}

// GetUser returns a user by id, or the caller for "me". Members may read
// only themselves.
func (s *Service) GetUser(ctx context.Context, id string) (*atelier.User, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.lookupUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if u.ID != p.UserID {
		if err := mayRead(p, u.TenantID, userNotFound(id)); err != nil {
			return nil, err
		}
	}
	return publicUser(u), nil
}

// manageUser returns the user id names if p may change it.
func (s *Service) manageUser(ctx context.Context, p *atelier.Principal, id string) (*atelier.User, error) {
	u, err := s.lookupUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := mayManage(p, u.TenantID, userNotFound(id)); err != nil {
		return nil, err
	}
	return u, nil
}

// checkNotLastAdmin returns CodeLastAdmin when u is the only active admin
// of its tenant. The count and the change are not one transaction: two
// admins demoting each other at the same instant can both pass.
func (s *Service) checkNotLastAdmin(ctx context.Context, u *atelier.User) error {
	if u.Role != atelier.RoleAdmin || u.Status != atelier.UserActive {
		return nil
	}
	users, err := s.st.ListUsers(ctx, u.TenantID)
	if err != nil {
		return fmt.Errorf("identity: count admins: %w", err)
	}
	for _, o := range users {
		if o.ID != u.ID && o.Role == atelier.RoleAdmin && o.Status == atelier.UserActive {
			return nil
		}
	}
	return atelier.CodeLastAdmin.Errorf("The user %s is the tenant's last active admin; make another user admin first.", u.ID)
}

// UpdateUser changes the fields spec sets. Disabling a user revokes all
// their tokens; the last active admin cannot be demoted or disabled.
func (s *Service) UpdateUser(ctx context.Context, id string, spec atelier.UserSpec) (_ *atelier.User, err error) {
	ev := &atelier.AuditEvent{Action: "user.update", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.manageUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	if spec.Password != nil {
		return nil, atelier.CodeInvalidParam.Errorf("A password cannot be changed here; use the password reset.").WithField("password")
	}
	if spec, err = checkUserSpec(spec); err != nil {
		return nil, err
	}
	if err := s.checkUserOrg(ctx, u.TenantID, spec.OrgID); err != nil {
		return nil, err
	}
	demoted := (spec.Role != nil && *spec.Role != atelier.RoleAdmin) || (spec.Status != nil && *spec.Status != atelier.UserActive)
	if demoted {
		if err := s.checkNotLastAdmin(ctx, u); err != nil {
			return nil, err
		}
	}
	now := s.now()
	u, err = s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		applyUserSpec(u, spec)
		u.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, storeError("update user", err, atelier.CodeUserNotFound, atelier.CodeUserExists)
	}
	if u.Status != atelier.UserActive {
		if err := s.revokeTokens(ctx, u.ID, ""); err != nil {
			return nil, err
		}
	}
	return publicUser(u), nil
}

// revokeTokens deletes every token of a user but keep.
func (s *Service) revokeTokens(ctx context.Context, userID, keep string) error {
	n, err := s.st.DeleteUserTokens(ctx, userID, keep)
	if err != nil {
		return fmt.Errorf("identity: revoke tokens of user %s: %w", userID, err)
	}
	if n > 0 {
		s.audit(ctx, atelier.AuditEvent{Action: "token.revoke", Target: userID, Reason: fmt.Sprintf("%d tokens", n)})
	}
	return nil
}

// DeleteUser deletes a user with their tokens, API keys and grants. The
// last active admin of a tenant cannot be deleted.
func (s *Service) DeleteUser(ctx context.Context, id string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.delete", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	u, err := s.manageUser(ctx, p, id)
	if err != nil {
		return err
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	if err := s.checkNotLastAdmin(ctx, u); err != nil {
		return err
	}
	if err := s.deleteUser(ctx, u.ID, s.now()); err != nil {
		return storeError("delete user", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return nil
}

// ResetPassword sets a password chosen by an admin, forces a change at the
// next login and revokes every token of the user.
func (s *Service) ResetPassword(ctx context.Context, id, password string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.password_reset", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	u, err := s.manageUser(ctx, p, id)
	if err != nil {
		return err
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	hash, policy, err := s.newPasswordHash(ctx, u, password)
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		applyPassword(u, hash, policy, now)
		u.MustChangePassword = true
		return nil
	}); err != nil {
		return storeError("reset password", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return s.revokeTokens(ctx, u.ID, "")
}

// ChangePassword changes the caller's own password after checking the old
// one, and revokes every other token of the caller (the request's own
// token, Principal.TokenHash, stays valid).
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.password_change"}
	defer s.record(ctx, ev, &err)
	p, err := self(ctx)
	if err != nil {
		return err
	}
	ev.Target = p.UserID
	u, err := s.lookupUser(ctx, p, me)
	if err != nil {
		return err
	}
	ok, err := s.verify(ctx, u.PasswordHash, oldPassword)
	if isHashBusy(err) {
		return err
	} else if err != nil {
		return fmt.Errorf("identity: user %s has an unusable password hash: %w", u.ID, err)
	}
	if !ok {
		return atelier.CodeBadCredentials.Errorf("The old password is wrong.").WithField("old_password")
	}
	hash, policy, err := s.newPasswordHash(ctx, u, newPassword)
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		applyPassword(u, hash, policy, now)
		return nil
	}); err != nil {
		return storeError("change password", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return s.revokeTokens(ctx, u.ID, p.TokenHash)
}

// UnlockUser clears a user's failed logins and lockout.
func (s *Service) UnlockUser(ctx context.Context, id string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.unlock", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	u, err := s.manageUser(ctx, p, id)
	if err != nil {
		return err
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	now := s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		u.FailedLogins = 0
		u.LockedUntil = time.Time{}
		u.UpdatedAt = now
		return nil
	}); err != nil {
		return storeError("unlock user", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return nil
}

// EnrollTOTP starts TOTP enrolment of the caller: a new seed, sealed in the
// user's record, is shown once; TOTP is off until ConfirmTOTP. A user with
// TOTP on must turn it off first.
func (s *Service) EnrollTOTP(ctx context.Context) (_ *atelier.TOTPEnrolment, err error) {
	ev := &atelier.AuditEvent{Action: "user.totp_enroll"}
	defer s.record(ctx, ev, &err)
	p, err := self(ctx)
	if err != nil {
		return nil, err
	}
	ev.Target = p.UserID
	u, err := s.lookupUser(ctx, p, me)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, atelier.CodeInvalidParam.Errorf("An authenticator app is already enrolled; remove it first (DELETE /v1/users/me/mfa/totp).").WithField("totp")
	}
	enr, sealed, err := s.newTOTPSecret(u)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		if u.TOTPEnabled {
			return atelier.CodeInvalidParam.Errorf("An authenticator app is already enrolled; remove it first.").WithField("totp")
		}
		u.TOTPSecret = sealed
		u.UpdatedAt = now
		return nil
	}); err != nil {
		return nil, storeError("enroll totp", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return enr, nil
}

// ConfirmTOTP turns TOTP on for the caller once code is valid for the seed
// that EnrollTOTP gave.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.totp_confirm"}
	defer s.record(ctx, ev, &err)
	p, err := self(ctx)
	if err != nil {
		return err
	}
	ev.Target = p.UserID
	u, err := s.lookupUser(ctx, p, me)
	if err != nil {
		return err
	}
	switch {
	case u.TOTPEnabled:
		return nil
	case u.TOTPSecret == "":
		return atelier.CodeMFAChannel.Errorf("No TOTP enrolment is in progress; start one with POST /v1/users/me/mfa/totp.").WithField("code")
	}
	ok, err := s.checkTOTP(ctx, u, code)
	if err != nil {
		return err
	}
	if !ok {
		return atelier.CodeBadOTP.Errorf("The code is wrong; check the authenticator app's clock and try the current code.").WithField("code")
	}
	sealed, now := u.TOTPSecret, s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		if u.TOTPSecret != sealed { // enrolled again meanwhile: the code was for the old seed
			return atelier.CodeBadOTP.Errorf("The enrolment changed meanwhile; use a code of the newest one.").WithField("code")
		}
		u.TOTPEnabled = true
		u.UpdatedAt = now
		return nil
	}); err != nil {
		return storeError("confirm totp", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return nil
}

// DisableTOTP removes a user's TOTP seed: the caller's own ("me" or their
// id), or any user an admin manages.
func (s *Service) DisableTOTP(ctx context.Context, userID string) (err error) {
	ev := &atelier.AuditEvent{Action: "user.totp_disable", Target: userID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	u, err := s.lookupUser(ctx, p, userID)
	if err != nil {
		return err
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	if u.ID != p.UserID {
		if err := mayManage(p, u.TenantID, userNotFound(userID)); err != nil {
			return err
		}
	}
	now := s.now()
	if _, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		u.TOTPSecret, u.TOTPEnabled = "", false
		u.UpdatedAt = now
		return nil
	}); err != nil {
		return storeError("disable totp", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	return nil
}

// ResetPasswordOffline sets the password of the user with email, for an
// operator at the server's machine who has lost every admin password
// (`atelier admin reset-password`, docs/operations.md): no caller, the
// tenant's password rules apply, the account is unlocked, every session
// and key token of the user is revoked, and the reset is audited. tenantID
// may be "" when the email exists in one tenant only; otherwise it is
// CodeAmbiguousTenant.
func (s *Service) ResetPasswordOffline(ctx context.Context, tenantID, email, password string) (_ *atelier.User, err error) {
	ev := &atelier.AuditEvent{Action: "user.password_reset", Actor: "atelier admin reset-password", Reason: "offline"}
	defer s.record(ctx, ev, &err)
	u, err := s.findLoginUser(ctx, atelier.LoginRequest{Email: email, TenantID: tenantID})
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, atelier.CodeUserNotFound.Errorf("No user has the email %s.", normalizeEmail(email)).WithField("email")
	}
	ev.Target, ev.TenantID = u.ID, u.TenantID
	hash, policy, err := s.newPasswordHash(ctx, u, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if u, err = s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		applyPassword(u, hash, policy, now)
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
		return nil
	}); err != nil {
		return nil, storeError("reset password", err, atelier.CodeUserNotFound, atelier.Code{})
	}
	if err := s.revokeTokens(ctx, u.ID, ""); err != nil {
		return nil, err
	}
	return publicUser(u), nil
}
