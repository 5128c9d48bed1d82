// Package identity logs users in and authenticates requests: password logins
// through registered apps, opaque session tokens, access/secret key pairs
// exchanged for tokens, and the first-start bootstrap of the default tenant,
// the built-in CLI app and the admin user.
//
// It implements atelier.AuthService and atelier.APIKeyService over a
// store.Store. Passwords and secret keys are stored only as argon2id hashes in
// PHC string format; bearer tokens are 256-bit random values stored only as
// their SHA-256. Nothing secret (passwords, tokens, secret keys, hashes) is
// ever logged.
//
// This is the minimal identity of the foundation. Lockout after failed logins,
// MFA, OIDC and RS256 id_tokens come later; the places they plug in are marked
// in login.go.
package identity
