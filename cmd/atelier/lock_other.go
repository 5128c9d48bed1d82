//go:build !unix

package main

import "os"

// flock does nothing where flock(2) does not exist.
func flock(*os.File) error { return nil }
