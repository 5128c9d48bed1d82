// Package atelier holds the domain of the Atelier platform: its types, the
// service interfaces that the HTTP API, the Go SDK and the CLI share, and the
// one error type with its stable codes.
//
// The package imports only the standard library. Business logic lives in the
// area packages (identity, obs, …), storage behind store.Store, and HTTP in
// httpapi.
package atelier
