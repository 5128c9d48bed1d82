// Package format reads and writes the import and export formats of datasets:
// ModelArts manifests (JSON Lines), PASCAL VOC XML annotation files, CSV
// tables, one-sample-per-line text files, and the directory layout of the
// "ModelArts image classification 1.0" format.
//
// Everything streams: readers pull from an io.Reader one line (or record) at
// a time with bounded buffers, and writers push one line at a time to an
// io.Writer, so a manifest of millions of lines is never held in memory.
//
// Readers separate two kinds of errors. A *LineError is about one line (or
// record): the reader has skipped it and the next call to Next continues
// with the following line, so an import can keep the good lines and report
// the bad ones by number (see Tally). Any other error (an I/O error, a table
// header that does not match the schema, a record too long to resynchronise
// after) is fatal: Next returns it again on every later call.
//
// The package is pure: it imports only the standard library and the root
// atelier package, does no object-store I/O, and reads no clock.
package format
