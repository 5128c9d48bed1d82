// Package mock holds function-field mocks of the root service interfaces for
// handler tests. Each method calls the field of the same name plus "Fn"; an
// unset field panics, so a test fails loudly on a call it did not expect.
//
// A mock is as safe for concurrent use as the functions put in its fields.
package mock
