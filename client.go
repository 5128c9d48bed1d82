package atelier

// Client-side codes: errors that the SDKs (Go and Python) raise themselves,
// without an answer from the server that carries a code.
var (
	CodeSDKChecksum        = NewCode("ATL.SDK.0001", Internal, "The downloaded or uploaded bytes do not match the size or x-atelier-sha256 the other side announced.")
	CodeSDKConnection      = NewCode("ATL.SDK.0002", Unavailable, "The server could not be reached, or the connection broke mid-request.")
	CodeSDKBadResponse     = NewCode("ATL.SDK.0003", Internal, "The server's answer is not what the API contract says (e.g. not JSON).")
	CodeSDKLoginIncomplete = NewCode("ATL.SDK.0004", FailedPrecondition, "The login needs another step (MFA, expired password) or was denied.")
	CodeSDKNoCredentials   = NewCode("ATL.SDK.0005", Unauthenticated, "No credentials were given or found in the environment or credentials file.")
	CodeSDKJobFailed       = NewCode("ATL.SDK.0101", FailedPrecondition, "A training run the SDK waited for ended FAILED or STOPPED, or a local worker exited non-zero; the message has the reason and last log lines.")
	CodeSDKEnvFailed       = NewCode("ATL.SDK.0102", Unavailable, "A training environment (virtualenv or conda with the listed packages) could not be created, e.g. no reachable package index.")
	CodeSDKModelFailed     = NewCode("ATL.SDK.0201", FailedPrecondition, "A model registration the SDK waited for ended failed; the message has the server's reason.")
	CodeSDKServiceFailed   = NewCode("ATL.SDK.0202", FailedPrecondition, "A service the SDK waited for ended failed or stopped instead of running; the message has the server's reason.")
)
