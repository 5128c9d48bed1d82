package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
)

// hasHan reports whether s contains a Chinese character.
func hasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

// translatedAreas are the code families that /api/v2 routes return; each of
// their codes needs a Chinese message.
var translatedAreas = []string{"ATL.AUTH.", "ATL.OAUTH.", "ATL.VFY.", "ATL.GEN.", "ATL.STO."}

func TestZhCatalogCoversEveryV2Code(t *testing.T) {
	t.Parallel()
	n := 0
	for _, c := range atelier.Codes() {
		if !slices.ContainsFunc(translatedAreas, func(p string) bool { return strings.HasPrefix(c.ID, p) }) {
			continue
		}
		n++
		for _, e := range []*atelier.Error{
			c.Errorf("An English message."),
			c.Errorf("An English message with %d and %s.", 3, "x").WithField("X-agent"),
		} {
			zh := httpapi.LocalizedMessage(e, "zh")
			if !hasHan(zh) || zh == e.Message {
				t.Errorf("%s has no Chinese message (got %q); add it to the catalog in httpapi/i18n.go", c.ID, zh)
			}
			if en := httpapi.LocalizedMessage(e, "en"); en != e.Message {
				t.Errorf("%s in English = %q, want %q", c.ID, en, e.Message)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d codes checked; the code registry looks incomplete", n)
	}
}

func TestZhMessagesUseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"bad credentials", atelier.CodeBadCredentials.Errorf("Wrong email, user name or password; %d attempts remain.", 3),
			"邮箱、用户名或密码错误，还可尝试 3 次。"},
		{"bad credentials without count", atelier.CodeBadCredentials.Errorf("Wrong email, user name or password."),
			"邮箱、用户名或密码错误。"},
		{"wrong old password", atelier.CodeBadCredentials.Errorf("The old password is wrong.").WithField("old_password"),
			"原密码错误。"},
		{"bad one-time code", atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", 2).WithField("code"),
			"验证码错误，还可尝试 2 次。"},
		{"bad one-time code, int64", atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", int64(1)),
			"验证码错误，还可尝试 1 次。"},
		{"bad one-time code, count after a string", atelier.CodeBadOTP.Errorf("The %s is wrong; %d attempts remain.", "code", 4),
			"验证码错误，还可尝试 4 次。"},
		{"locked", atelier.CodeAccountLocked.Errorf("Too many failed logins; the account is locked for %d more minutes.", 15),
			"登录失败次数过多，账号已被锁定，请 15 分钟后再试。"},
		{"locked without minutes", atelier.CodeAccountLocked.Errorf("Locked."),
			"登录失败次数过多，账号已被暂时锁定。"},
		{"login rate limit", atelier.CodeLoginRateLimit.Errorf("Too many login attempts; retry in %d seconds.", 30),
			"登录尝试过于频繁，请 30 秒后重试。"},
		{"resend too soon", atelier.CodeResendTooSoon.Errorf("A code was sent moments ago; ask again in %d seconds.", 42),
			"验证码刚刚已发送，请 42 秒后再获取。"},
		{"missing header", atelier.CodeMissingHeader.Errorf("missing header %s", "X-agent").WithField("X-agent"),
			"缺少请求头 X-agent。"},
		{"invalid parameter", atelier.CodeInvalidParam.Errorf("The field email is required.").WithField("email"),
			"请求参数 email 缺失或取值无效。"},
		{"invalid parameter without field", atelier.CodeInvalidParam.Errorf("Bad."),
			"请求字段或查询参数的取值无效。"},
		{"wrapped", fmt.Errorf("login: %w", atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", 1)),
			"验证码错误，还可尝试 1 次。"},
		{"canceled", context.Canceled, "客户端在请求完成前断开了连接。"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), "请求处理时间超过了服务器的限制。"},
		{"unknown error stays hidden", errors.New("open /etc/secret: permission denied"), "服务器发生意外错误，请稍后重试。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := httpapi.LocalizedMessage(tt.err, "zh"); got != tt.want {
				t.Errorf("LocalizedMessage(zh) = %q, want %q", got, tt.want)
			}
			if got, want := httpapi.LocalizedMessage(tt.err, ""), atelier.ErrorMessage(tt.err); got != want {
				t.Errorf("LocalizedMessage(\"\") = %q, want the English %q", got, want)
			}
		})
	}
	if got := httpapi.LocalizedMessage(nil, "zh"); got != "" {
		t.Errorf("LocalizedMessage(nil) = %q, want empty", got)
	}
}

func TestLanguageHeaderValues(t *testing.T) {
	t.Parallel()
	err := atelier.CodeForbidden.Errorf("The caller may not perform this operation.")
	tests := []struct {
		lang    string
		chinese bool
	}{
		{"zh", true}, {"ZH", true}, {"zh-CN", true}, {"zh-cn", true}, {"zh_CN", true}, {"Zh_Cn", true}, {" zh ", true},
		{"", false}, {"en", false}, {"EN", false}, {"en-US", false}, {"fr", false}, {"zh-TW", false}, {"zhx", false}, {"chinese", false},
	}
	for _, tt := range tests {
		got := httpapi.LocalizedMessage(err, tt.lang)
		if hasHan(got) != tt.chinese {
			t.Errorf("X-L %q gives %q; want Chinese %v", tt.lang, got, tt.chinese)
		}
	}
}

func TestV2ErrorsInChinese(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
		return nil, atelier.CodeBadCredentials.Errorf("Wrong email, user name or password; %d attempts remain.", 4)
	}
	tests := []struct {
		name    string
		lang    string
		wantMsg string
	}{
		{"no X-L", "", "Wrong email, user name or password; 4 attempts remain."},
		{"English", "en", "Wrong email, user name or password; 4 attempts remain."},
		{"Chinese", "zh", "邮箱、用户名或密码错误，还可尝试 4 次。"},
		{"Chinese (China)", "zh-CN", "邮箱、用户名或密码错误，还可尝试 4 次。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newLoginRequest("/api/v2/sdk/login/email", `{"email":"a@b.c","password":"wrong"}`)
			if tt.lang != "" {
				req.Header.Set("X-L", tt.lang)
			}
			w := h.do(req)
			e := mustError(t, w, 400, atelier.CodeBadCredentials.ID)
			if e.Message != tt.wantMsg || e.RequestID != "" {
				t.Errorf("answer %s; want error_msg %q and no request_id", w.Body, tt.wantMsg)
			}
		})
	}

	// Errors raised by httpapi itself are translated too.
	req := httptest.NewRequest("GET", "/api/v2/sdk/logout", nil)
	req.Header.Set("X-L", "zh_CN")
	if e := mustError(t, h.do(req), 400, atelier.CodeMissingHeader.ID); e.Message != "缺少请求头 X-session-token。" {
		t.Errorf("error_msg = %q", e.Message)
	}
	req = newLoginRequest("/api/v2/sdk/login/email", `{"nope":1}`)
	req.Header.Set("X-L", "zh")
	if e := mustError(t, h.do(req), 400, atelier.CodeInvalidJSON.ID); !hasHan(e.Message) {
		t.Errorf("error_msg = %q, want Chinese", e.Message)
	}
}

func TestV1ErrorsIgnoreLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		authed       bool
		status       int
		code         string
	}{
		{"GET", "/v1/apikeys", false, 401, atelier.CodeNoCredentials.ID},
		{"GET", "/v1/nothing", true, 404, atelier.CodeRouteNotFound.ID},
		{"PATCH", "/v1/apikeys", true, 405, atelier.CodeMethodNotAllowed.ID},
	} {
		var msgs []string
		for _, lang := range []string{"", "zh", "zh-CN"} {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.authed {
				req = authed(tc.method, tc.path, nil)
			}
			if lang != "" {
				req.Header.Set("X-L", lang)
			}
			w := h.do(req)
			e := mustError(t, w, tc.status, tc.code)
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if hasHan(e.Message) || m["request_id"] == nil {
				t.Errorf("%s %s with X-L %q: %s; want the English /v1 answer", tc.method, tc.path, lang, w.Body)
			}
			msgs = append(msgs, e.Message)
		}
		if msgs[0] != msgs[1] || msgs[0] != msgs[2] {
			t.Errorf("%s %s: messages differ by X-L: %q", tc.method, tc.path, msgs)
		}
	}
}
