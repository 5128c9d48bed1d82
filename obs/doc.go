// Package obs is the object store (OBS) of Atelier: buckets and objects of a
// tenant, with their metadata in the store and their bytes in a Backend.
//
// Service implements atelier.ObjectService. Uploads stream through MD5 and
// SHA-256 hashers into a fresh blob that becomes visible only when the store
// commits it; a failed, cancelled or interrupted upload leaves nothing behind.
// A pending upload is recorded before its first byte is written and keeps a
// heartbeat while the body streams, so that the sweeper (Service.Sweep,
// Service.Start) can delete what a crashed server left.
//
// Backend is the small driver interface for bytes. OpenBackend opens one from
// a URL (file://, s3://, mem://) over gocloud.dev/blob; NewQuotaBackend wraps
// one to simulate a full disk in tests. The package obs/obstest holds the
// conformance suite that every Backend passes.
package obs
