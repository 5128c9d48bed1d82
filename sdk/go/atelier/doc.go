// Package atelier is the Go SDK of the Atelier platform: a Client for the
// HTTP API described in docs/api.md, plus helpers that move files and
// directories between the local disk and the object store (OBS).
//
// A Client is built from explicit Options with New, or from the environment
// and the credentials file with FromEnv (see LoadConfig for the precedence).
// Every error the API answers is an *APIError that unwraps to the domain's
// *atelier.Error, so errors.As and the root package's ErrorCode and ErrorKind
// work on it:
//
//	c, err := atelier.FromEnv()
//	...
//	if _, err := c.StatObject(ctx, "b", "k"); core.ErrorCode(err) == core.CodeObjectNotFound.ID {
//		...
//	}
package atelier
