package atelier

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

// TestDirectoryRequests checks the method, path, query and body of each
// directory call against a recording server.
func TestDirectoryRequests(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.EscapedPath() + " " + r.URL.RawQuery + " " + strings.TrimSpace(string(b)) + " " + r.Header.Get("X-Verification-Token")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodDelete || strings.HasSuffix(r.URL.Path, "/unlock") || strings.HasSuffix(r.URL.Path, "/reset"):
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/v1/audit":
			io.WriteString(w, `{"events":[{"id":"e1","action":"user.create"}],"next_cursor":"c2"}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	ctx := context.Background()
	name, root := "eng", ""
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	tests := []struct {
		call func() error
		want string
	}{
		{func() error { _, err := c.CreateTenant(ctx, "acme", nil); return err }, `POST /v1/tenants  {"name":"acme"} `},
		{func() error { _, err := c.ListUsers(ctx, "t 2"); return err }, `GET /v1/users tenant_id=t+2  `},
		{func() error { _, err := c.GetUser(ctx, "me"); return err }, `GET /v1/users/me   `},
		{func() error {
			_, err := c.CreateUser(ctx, "", core.UserSpec{Email: &name})
			return err
		}, `POST /v1/users  {"email":"eng"} `},
		{func() error { return c.ResetPassword(ctx, "u/1", "pw") }, `POST /v1/users/u%2F1/password/reset  {"password":"pw"} `},
		{func() error { return c.ChangePassword(ctx, "a", "b") }, `POST /v1/users/me/password  {"new_password":"b","old_password":"a"} `},
		{func() error { return c.UnlockUser(ctx, "u1") }, `POST /v1/users/u1/unlock   `},
		{func() error { return c.DisableTOTP(ctx, "me") }, `DELETE /v1/users/me/mfa/totp   `},
		{func() error { _, err := c.UpdateOrg(ctx, "o1", &name, nil); return err }, `PATCH /v1/orgs/o1  {"name":"eng"} `},
		{func() error { _, err := c.UpdateOrg(ctx, "o1", nil, &root); return err }, `PATCH /v1/orgs/o1  {"parent_id":""} `},
		{func() error { _, err := c.RotateAppSecret(ctx, "app-1", "vt"); return err }, `POST /v1/apps/app-1/secret   vt`},
		{func() error { return c.RevokeApp(ctx, "app-1", "u2") }, `DELETE /v1/apps/app-1/users/u2   `},
		{func() error {
			p, err := c.ListAudit(ctx, core.AuditQuery{Action: "user.", Since: since, Limit: 5, Cursor: "c1"})
			if err == nil && (len(p.Events) != 1 || p.NextCursor != "c2") {
				t.Errorf("page = %+v", p)
			}
			return err
		}, `GET /v1/audit action=user.&cursor=c1&limit=5&since=2025-01-02T02%3A04%3A05Z  `},
	}
	for _, tt := range tests {
		if err := tt.call(); err != nil {
			t.Errorf("%s: %v", tt.want, err)
		}
		if got != tt.want {
			t.Errorf("request %q, want %q", got, tt.want)
		}
	}
}
