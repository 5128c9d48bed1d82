package httpapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atelier-dev/atelier"
)

// wantsChinese reports whether an X-L header value asks for Chinese messages:
// "zh", "zh-CN" or "zh_CN", in any case. Anything else means English.
func wantsChinese(lang string) bool {
	switch strings.ToLower(strings.TrimSpace(lang)) {
	case "zh", "zh-cn", "zh_cn":
		return true
	}
	return false
}

// LocalizedMessage returns the user-facing message of err in the language an
// X-L header value names (CONTRACT §4): Chinese for "zh", "zh-CN" or "zh_CN"
// when the catalog has the error's code, else the English message of
// atelier.ErrorMessage.
func LocalizedMessage(err error, lang string) string {
	if err == nil {
		return ""
	}
	if wantsChinese(lang) {
		e := asError(err)
		if f, ok := zhMessages[e.Code]; ok {
			return f(e)
		}
	}
	return atelier.ErrorMessage(err)
}

// asError returns err's *atelier.Error, or for any other error one carrying
// only the code that atelier.ErrorCode gives it.
func asError(err error) *atelier.Error {
	var e *atelier.Error
	if errors.As(err, &e) {
		return e
	}
	return &atelier.Error{Code: atelier.ErrorCode(err)}
}

// zhMessage renders one code's Chinese message from the error's Field and
// Args (the values its English message was formatted with).
type zhMessage func(e *atelier.Error) string

// zh returns a zhMessage that ignores the error's details.
func zh(s string) zhMessage { return func(*atelier.Error) string { return s } }

// zhWithInt returns a zhMessage that puts the error's first integer argument
// into format, or says fallback when there is none.
func zhWithInt(format, fallback string) zhMessage {
	return func(e *atelier.Error) string {
		if n, ok := firstInt(e.Args); ok {
			return fmt.Sprintf(format, n)
		}
		return fallback
	}
}

// zhWithField returns a zhMessage that names the error's field in format, or
// says fallback when the error names no field.
func zhWithField(format, fallback string) zhMessage {
	return func(e *atelier.Error) string {
		if e.Field != "" {
			return fmt.Sprintf(format, e.Field)
		}
		return fallback
	}
}

// firstInt returns the first argument of an integer type.
func firstInt(args []any) (int64, bool) {
	for _, a := range args {
		switch n := a.(type) {
		case int:
			return int64(n), true
		case int8:
			return int64(n), true
		case int16:
			return int64(n), true
		case int32:
			return int64(n), true
		case int64:
			return n, true
		case uint:
			return int64(n), true
		case uint8:
			return int64(n), true
		case uint16:
			return int64(n), true
		case uint32:
			return int64(n), true
		case uint64:
			return int64(n), true
		}
	}
	return 0, false
}

// zhMessages is the Chinese catalog: one entry per error code that an
// /api/v2 route can return. A test checks that every ATL.AUTH, ATL.OAUTH,
// ATL.VFY, ATL.GEN and ATL.STO code has one.
var zhMessages = map[string]zhMessage{
	// General codes.
	atelier.CodeInternal.ID:         zh("服务器发生意外错误，请稍后重试。"),
	atelier.CodeInvalidJSON.ID:      zh("请求体不是有效的 JSON，或与预期的结构不符。"),
	atelier.CodeBodyTooLarge.ID:     zh("请求体超过了服务器允许的大小。"),
	atelier.CodeRouteNotFound.ID:    zh("没有与该请求方法和路径匹配的 API 路由。"),
	atelier.CodeInvalidParam.ID:     zhWithField("请求参数 %s 缺失或取值无效。", "请求字段或查询参数的取值无效。"),
	atelier.CodeRateLimited.ID:      zh("请求过于频繁，请在 Retry-After 指定的时间后重试。"),
	atelier.CodeUnavailable.ID:      zh("服务器正在启动或关闭，或后端服务没有响应。"),
	atelier.CodeCanceled.ID:         zh("客户端在请求完成前断开了连接。"),
	atelier.CodeDeadline.ID:         zh("请求处理时间超过了服务器的限制。"),
	atelier.CodeNotImplemented.ID:   zh("当前配置的后端不支持此操作。"),
	atelier.CodeBodyTimeout.ID:      zh("请求体的传输速度低于服务器要求的最低速率，请更快地发送或分成较小的部分。"),
	atelier.CodeBadBody.ID:          zh("无法读取请求体：其传输分帧（分块编码）格式错误。"),
	atelier.CodeMethodNotAllowed.ID: zh("该路由存在，但不支持此 HTTP 方法。"),

	// Storage.
	atelier.CodeStoreUnavailable.ID: zh("元数据存储（数据库）没有响应，未做任何更改。请在 Retry-After 指定的时间后重试。"),
	atelier.CodeStoreFull.ID:        zh("元数据存储（数据库）所在磁盘空间已满，未做任何更改。请联系管理员释放空间。"),
	atelier.CodeObjectBackend.ID:    zh("对象存储后端没有响应、拒绝了服务器的凭据或配置有误。请在 Retry-After 指定的时间后重试。"),

	// Authentication.
	atelier.CodeNoCredentials.ID: zh("请求未携带凭据，请发送 Authorization: Bearer <token>。"),
	atelier.CodeInvalidToken.ID:  zh("令牌无效、已被吊销或已过期，请重新登录。"),
	atelier.CodeBadKey.ID:        zh("Access Key 或 Secret Key 错误。"),
	atelier.CodeForbidden.ID:     zh("无权执行此操作。"),
	atelier.CodeBadCredentials.ID: func(e *atelier.Error) string {
		if e.Field == "old_password" {
			return "原密码错误。"
		}
		if n, ok := firstInt(e.Args); ok {
			return fmt.Sprintf("邮箱、用户名或密码错误，还可尝试 %d 次。", n)
		}
		return "邮箱、用户名或密码错误。"
	},
	atelier.CodeMissingHeader.ID: zhWithField("缺少请求头 %s。",
		"缺少必需的 /api/v2 请求头（X-client-id、X-operating-sys-version、X-device-fingerprint、X-agent）。"),
	atelier.CodeUnknownClient.ID: zh("X-client-id 请求头指定的应用未注册。"),
	atelier.CodeAccountLocked.ID: zhWithInt("登录失败次数过多，账号已被锁定，请 %d 分钟后再试。",
		"登录失败次数过多，账号已被暂时锁定。"),
	atelier.CodeAmbiguousTenant.ID: zh("该邮箱存在于多个租户中，请发送 X-tenant-id 请求头。"),
	atelier.CodeStateToken.ID:      zh("状态令牌无效、已使用、已过期或不属于当前步骤，请重新登录。"),
	atelier.CodeBadOTP.ID:          zhWithInt("验证码错误，还可尝试 %d 次。", "验证码错误。"),
	atelier.CodeOTPExpired.ID:      zh("没有有效的验证码：验证码已过期、已被使用或错误次数过多，请重新获取。"),
	atelier.CodeResendTooSoon.ID: zhWithInt("验证码刚刚已发送，请 %d 秒后再获取。",
		"验证码刚刚已发送或发送次数过多，请稍后再试。"),
	atelier.CodeMFAChannel.ID:     zh("该用户无法使用此验证方式：未登记手机号或邮箱、未配置发送服务，或未绑定 TOTP。"),
	atelier.CodePasswordPolicy.ID: zh("新密码不符合租户的密码策略。"),
	atelier.CodeInvalidClient.ID:  zh("客户端 ID 或客户端密钥错误。"),
	atelier.CodeInvalidTicket.ID:  zh("SSO 票据无效、已使用、已过期，或绑定于其他设备或应用。"),
	atelier.CodeLoginRateLimit.ID: zhWithInt("登录尝试过于频繁，请 %d 秒后重试。",
		"来自该地址或针对该账号的登录尝试过于频繁，请在 Retry-After 指定的时间后重试。"),

	// Tenants, users, organizations, apps and API keys.
	atelier.CodeAPIKeyNotFound.ID: zh("API 密钥不存在或属于其他用户。"),
	atelier.CodeTenantNotFound.ID: zh("租户不存在。"),
	atelier.CodeUserNotFound.ID:   zh("用户不存在。"),
	atelier.CodeUserExists.ID:     zh("该租户中已存在使用此邮箱或用户名的用户。"),
	atelier.CodeTenantExists.ID:   zh("已存在同名的租户。"),
	atelier.CodeAppExists.ID:      zh("已存在使用此客户端 ID 的应用。"),
	atelier.CodeOrgNotFound.ID:    zh("组织不存在。"),
	atelier.CodeOrgExists.ID:      zh("同一上级组织下已存在同名组织。"),
	atelier.CodeOrgNotEmpty.ID:    zh("该组织下仍有子组织或用户。"),
	atelier.CodeOrgCycle.ID:       zh("组织不能移动到自身或其下级组织之下。"),
	atelier.CodeAppNotFound.ID:    zh("应用不存在。"),
	atelier.CodeLastAdmin.ID:      zh("该操作会使租户没有可用的管理员。"),
	atelier.CodeBuiltInApp.ID:     zh("内置应用不能修改或删除。"),
	atelier.CodeNotGranted.ID:     zh("该用户未被授权使用此应用。"),

	// Step-up verification.
	atelier.CodeVerifyNeeded.ID:  zh("此敏感操作需要在 X-verification-token 请求头中提供二次验证令牌，请通过 POST /v1/verifications 获取。"),
	atelier.CodeVerifyInvalid.ID: zh("验证令牌无效、已使用、已过期，或属于其他用户、操作或参数。"),
	atelier.CodeVerifyUnknown.ID: zh("该验证不存在或已过期。"),

	// OAuth 2.0 and OpenID Connect.
	atelier.CodeOAuthInvalidRequest.ID: zhWithField("OAuth 请求参数 %s 缺失或无效。", "OAuth 请求缺少参数或参数无效。"),
	atelier.CodeOAuthInvalidGrant.ID:   zh("授权码、刷新令牌或 PKCE 校验码错误、已使用或已过期。"),
	atelier.CodeOAuthGrantType.ID:      zh("不支持该 grant_type。"),
	atelier.CodeOAuthResponseType.ID:   zh("不支持该 response_type，请使用 code。"),
	atelier.CodeOAuthRedirect.ID:       zh("redirect_uri 未在该客户端登记（URI 必须完全一致）。"),
	atelier.CodeOAuthScope.ID:          zh("scope 无效，必须包含 openid。"),
	atelier.CodeOAuthUnauthorized.ID:   zh("该客户端无权使用此授权类型。"),
}
