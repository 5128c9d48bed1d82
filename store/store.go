// Package store defines the metadata store that every Atelier service keeps
// its state in, as one small interface per aggregate, and the errors that
// every backend returns.
//
// Backends: store/sqlitestore (modernc.org/sqlite, the default) and
// store/pgstore (PostgreSQL through pgx). Both pass store/storetest.
//
// Error contract, for every method of every backend:
//   - a missing record gives an error for which errors.Is(err, ErrNotFound);
//   - a unique constraint gives errors.Is(err, ErrConflict);
//   - deleting a bucket that still holds objects gives ErrNotEmpty;
//   - a database out of disk space gives an *atelier.Error with
//     atelier.CodeStoreFull, and one that cannot be reached (or cannot
//     write: I/O errors, a read-only file) atelier.CodeStoreUnavailable, both
//     found with errors.As, so that they reach the client as 507 and 503
//     through any wrapping;
//   - any other failure is returned wrapped with the operation's name.
//
// Domain packages turn these into *atelier.Error with their own codes.
// Times are stored in UTC with microsecond precision. Every time a backend
// stores comes from its caller: backends read no clock, so that the domain's
// injected clock decides every time (layout_test.go checks it).
//
// The store decides no events either: a domain package appends the outbox
// event of a change it makes (CallbackStore.AppendEvent) in the same InTx.
//
// # Transactions
//
// Store.InTx runs a function in one transaction and hands it a Store, not a
// narrower Tx type: every method runs in that transaction, so that a change,
// the events its caller appends (AppendEvent) and the queue items it inserts
// (QueueStore) commit together, and code that takes a Store works the same on the pools and
// inside a caller's transaction (river's Executor and ExecutorTx share their
// methods for the same reason). A nested InTx joins the outer transaction
// under a savepoint; a method that fails inside InTx leaves nothing of
// itself and the transaction usable. The function may run more than once
// (after a serialization failure), so it must have no side effects outside
// the store, and it must not use any Store but the one it is given while it
// runs: on SQLite the transaction holds the only writer connection.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/atelier-dev/atelier"
)

// Sentinel errors of the store contract.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	ErrNotEmpty = errors.New("store: not empty")
)

// Store is the whole metadata store. Implementations are safe for concurrent
// use.
type Store interface {
	TenantStore
	UserStore
	OrgStore
	AppStore
	TokenStore
	APIKeyStore
	ChallengeStore
	SigningKeyStore
	AuditStore
	JobStore
	ModelStore
	ServiceStore
	DatasetStore
	CallbackStore
	BucketStore
	ObjectStore
	QueueStore
	LeaseStore

	// InTx runs fn in one transaction with a Store whose every method runs
	// in it, and commits when fn returns nil; fn's error rolls it back and
	// is returned as is. fn may run again after a serialization failure, so
	// it must have no side effects but through tx, and must not call any
	// other Store while it runs. Inside InTx, InTx joins the transaction
	// under a savepoint: its fn's changes commit with the outer
	// transaction, or are undone alone when its fn fails. Signals
	// (EventSignal) fire after the outermost commit. The tx Store belongs
	// to fn's goroutine and is dead once fn returned; its Close does
	// nothing.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. It is safe to call twice.
	Close() error
}

// TenantStore keeps tenants.
type TenantStore interface {
	// CreateTenant inserts t; ErrConflict when the name is taken.
	CreateTenant(ctx context.Context, t *atelier.Tenant) error
	GetTenant(ctx context.Context, id string) (*atelier.Tenant, error)
	GetTenantByName(ctx context.Context, name string) (*atelier.Tenant, error)
	ListTenants(ctx context.Context) ([]*atelier.Tenant, error)
	// UpdateTenant reads the tenant, calls fn on it inside one transaction
	// and writes it back (name, settings, updated_at); fn may run more than
	// once. ErrNotFound when missing, ErrConflict on a taken name.
	UpdateTenant(ctx context.Context, id string, fn func(t *atelier.Tenant) error) (*atelier.Tenant, error)
}

// UserStore keeps users. Emails are stored lower-case by the caller; they and
// user names are unique within a tenant.
type UserStore interface {
	// CreateUser inserts u and replaces its times by their stored forms;
	// ErrConflict on a duplicate email or name in the tenant; ErrNotFound
	// when u.OrgID names no organization of the tenant (checked in the same
	// transaction, as UpdateUser does when the org changes, so that
	// DeleteOrg never leaves a user in a deleted org).
	CreateUser(ctx context.Context, u *atelier.User) error
	GetUser(ctx context.Context, id string) (*atelier.User, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (*atelier.User, error)
	GetUserByName(ctx context.Context, tenantID, name string) (*atelier.User, error)
	// FindUsersByEmail returns the users with this email in every tenant.
	FindUsersByEmail(ctx context.Context, email string) ([]*atelier.User, error)
	ListUsers(ctx context.Context, tenantID string) ([]*atelier.User, error)
	// UpdateUser reads the user, calls fn on it inside one transaction and
	// writes it back, returning it as stored; fn may run more than once and
	// must not have side effects. An error from fn aborts the update and is
	// returned as is.
	UpdateUser(ctx context.Context, id string, fn func(u *atelier.User) error) (*atelier.User, error)
	// CountUsers returns how many users exist in all tenants.
	CountUsers(ctx context.Context) (int, error)
	// DeleteUser deletes the user with its tokens, API keys and app grants
	// in one transaction and returns the user as it was deleted (read
	// under the row's lock, so no concurrent update slips in between);
	// ErrNotFound when missing.
	DeleteUser(ctx context.Context, id string) (*atelier.User, error)
}

// OrgStore keeps organizations, a tree per tenant. Names are unique among
// the children of one parent.
type OrgStore interface {
	// CreateOrg inserts o and replaces its times by their stored forms;
	// ErrConflict on a taken name under the parent or an org that is its
	// own parent; ErrNotFound when the parent is not an org of the same
	// tenant. Deeper cycles are the caller's to prevent.
	CreateOrg(ctx context.Context, o *atelier.Organization) error
	GetOrg(ctx context.Context, id string) (*atelier.Organization, error)
	// ListOrgs returns a tenant's organizations ordered by name.
	ListOrgs(ctx context.Context, tenantID string) ([]*atelier.Organization, error)
	// UpdateOrg reads, calls fn and writes back name, parent and updated_at
	// in one transaction; ErrNotFound, ErrConflict.
	UpdateOrg(ctx context.Context, id string, fn func(o *atelier.Organization) error) (*atelier.Organization, error)
	// DeleteOrg deletes an organization that has no children and no users,
	// checked in the same transaction, and returns it as it was deleted:
	// ErrNotEmpty otherwise, ErrNotFound when missing.
	DeleteOrg(ctx context.Context, id string) (*atelier.Organization, error)
}

// AppStore keeps registered apps.
type AppStore interface {
	// CreateApp inserts a; ErrConflict when the client id is taken.
	CreateApp(ctx context.Context, a *atelier.App) error
	GetAppByClientID(ctx context.Context, clientID string) (*atelier.App, error)
	// ListApps returns a tenant's apps ordered by name.
	ListApps(ctx context.Context, tenantID string) ([]*atelier.App, error)
	// UpdateApp reads, calls fn and writes back every field but the ids,
	// tenant and built_in flag in one transaction; ErrNotFound when missing.
	UpdateApp(ctx context.Context, clientID string, fn func(a *atelier.App) error) (*atelier.App, error)
	// DeleteApp deletes the app with its grants, the tokens issued
	// through it and its callback subscription and deliveries, in one
	// transaction; ErrNotFound when missing.
	DeleteApp(ctx context.Context, clientID string) error
	// GrantApp lets a user use an app; granting twice is not an error.
	GrantApp(ctx context.Context, appID, userID string, at time.Time) error
	// RevokeApp removes a grant; ErrNotFound when there was none.
	RevokeApp(ctx context.Context, appID, userID string) error
	// HasAppGrant reports whether the user was granted the app.
	HasAppGrant(ctx context.Context, appID, userID string) (bool, error)
	// ListAppGrants returns the ids of the users granted the app, sorted.
	ListAppGrants(ctx context.Context, appID string) ([]string, error)
}

// TokenStore keeps issued bearer tokens by their hash.
type TokenStore interface {
	CreateToken(ctx context.Context, t *atelier.Token) error
	// GetToken returns ErrNotFound for an unknown hash; expiry is the
	// caller's business.
	GetToken(ctx context.Context, hash string) (*atelier.Token, error)
	// DeleteToken is idempotent: deleting an unknown hash is not an error.
	DeleteToken(ctx context.Context, hash string) error
	// ConsumeToken deletes the token and returns it, atomically: of two
	// concurrent calls for one hash exactly one gets the token, the other
	// ErrNotFound. Single-use tokens (codes, tickets, state and
	// verification tokens) are redeemed with it. Expiry is the caller's
	// business.
	ConsumeToken(ctx context.Context, hash string) (*atelier.Token, error)
	// DeleteUserTokens revokes every token of a user except the one with
	// hash keep ("" keeps none) and returns how many it deleted.
	DeleteUserTokens(ctx context.Context, userID, keep string) (int, error)
	// DeleteTokensByAccessKey revokes every token issued for an API key.
	DeleteTokensByAccessKey(ctx context.Context, accessKey string) error
	// DeleteExpiredTokens removes tokens that expired before now and returns
	// how many it removed.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error)
}

// APIKeyStore keeps access/secret key pairs.
type APIKeyStore interface {
	// CreateAPIKey inserts k; ErrConflict when the access key exists.
	CreateAPIKey(ctx context.Context, k *atelier.APIKey) error
	GetAPIKey(ctx context.Context, accessKey string) (*atelier.APIKey, error)
	// ListAPIKeys returns the keys of one user, oldest first.
	ListAPIKeys(ctx context.Context, tenantID, userID string) ([]*atelier.APIKey, error)
	// DeleteAPIKey deletes the key only if it belongs to the tenant and user;
	// ErrNotFound otherwise.
	DeleteAPIKey(ctx context.Context, tenantID, userID, accessKey string) error
}

// Challenge is a one-time code sent by SMS or email (MFA, step-up
// verification). Only the code's hash is kept.
type Challenge struct {
	ID        string // the state token hash or verification id, plus ":" and the channel
	UserID    string
	Channel   string
	CodeHash  string
	Attempts  int // wrong codes tried
	Sends     int // codes sent for this challenge
	SentAt    time.Time
	ExpiresAt time.Time
	CreatedAt time.Time
}

// ChallengeStore keeps one-time-code challenges.
type ChallengeStore interface {
	// PutChallenge inserts or replaces the challenge with c.ID.
	PutChallenge(ctx context.Context, c *Challenge) error
	GetChallenge(ctx context.Context, id string) (*Challenge, error)
	// UpdateChallenge reads, calls fn and writes back in one transaction;
	// ErrNotFound when missing.
	UpdateChallenge(ctx context.Context, id string, fn func(c *Challenge) error) (*Challenge, error)
	// DeleteChallenge is idempotent.
	DeleteChallenge(ctx context.Context, id string) error
	// DeleteExpiredChallenges removes challenges that expired before now.
	DeleteExpiredChallenges(ctx context.Context, now time.Time) (int, error)
}

// SigningKey is an id_token signing key; the private key is sealed with the
// server's master key.
type SigningKey struct {
	ID        string // the JWS kid
	Sealed    string
	CreatedAt time.Time
}

// SigningKeyStore keeps signing keys.
type SigningKeyStore interface {
	// CreateSigningKey inserts k; ErrConflict when the id exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKey is idempotent.
	DeleteSigningKey(ctx context.Context, id string) error
}

// AuditFilter selects audit events for ListAudit; zero fields do not
// filter. Events come newest first, ordered by (time, id) descending, and
// start strictly before (BeforeTime, BeforeID) when BeforeID is set.
type AuditFilter struct {
	TenantID     string
	ActorID      string
	Action       string // exact
	ActionPrefix string // e.g. "user."
	Outcome      string
	Since        time.Time // inclusive
	Until        time.Time // exclusive
	BeforeTime   time.Time
	BeforeID     string
	Limit        int
}

// AuditStore keeps the append-only audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e *atelier.AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]*atelier.AuditEvent, error)
}

// JobListFilter selects a tenant's jobs for ListJobs, newest first by
// (created_at, id) descending, strictly before (BeforeTime, BeforeID) when
// BeforeID is set. Zero fields do not filter; State is the latest version's.
type JobListFilter struct {
	Name       string
	State      string
	BeforeTime time.Time
	BeforeID   string
	Limit      int // default 100, at most 1000
}

// JobStore keeps training jobs, their versions and the state transitions of
// each version. A job's LatestVersion, VersionCount and State are derived
// from its versions when read.
type JobStore interface {
	// CreateJob inserts j and its first version v (v.VersionID is set to 1)
	// and v's first event, in one transaction; ErrConflict when the tenant
	// has a job of that name.
	CreateJob(ctx context.Context, j *atelier.TrainingJob, v *atelier.JobVersion) error
	// GetJob returns ErrNotFound for a job of another tenant.
	GetJob(ctx context.Context, tenantID, jobID string) (*atelier.TrainingJob, error)
	ListJobs(ctx context.Context, tenantID string, f JobListFilter) ([]*atelier.TrainingJob, error)
	// DeleteJob deletes the job with its versions and events; ErrNotFound
	// when missing.
	DeleteJob(ctx context.Context, tenantID, jobID string) error
	// CreateVersion inserts v as the job's next version, setting
	// v.VersionID to one more than the highest so far, with its first
	// event, in one transaction; ErrNotFound when the job is gone.
	CreateVersion(ctx context.Context, v *atelier.JobVersion) error
	// GetVersion returns version n of the job (0: the latest).
	GetVersion(ctx context.Context, jobID string, n int64) (*atelier.JobVersion, error)
	// ListVersions returns the job's versions, newest first.
	ListVersions(ctx context.Context, jobID string) ([]*atelier.JobVersion, error)
	// UpdateVersion reads the version, calls fn and writes it back in one
	// transaction; when fn changed State it also appends a JobEvent
	// (State, Reason, time now) in the same transaction, so that no
	// transition is ever lost or recorded without its change. A JobEvent
	// is the version's own history, not an outbox event: the caller
	// appends TRAINING_JOB_STATE_CHANGED (CallbackStore.AppendEvent) in the
	// same InTx. fn may run more than once and must not have side effects.
	UpdateVersion(ctx context.Context, jobID string, n int64, now time.Time, fn func(v *atelier.JobVersion) error) (*atelier.JobVersion, error)
	// ListEvents returns a version's transitions in order.
	ListEvents(ctx context.Context, jobID string, n int64) ([]*atelier.JobEvent, error)
	// ActiveVersions returns every version (of every tenant) whose state is
	// not final, oldest first: the queue, and what a restarted server must
	// re-adopt.
	ActiveVersions(ctx context.Context) ([]*atelier.JobVersion, error)
}

// ModelStore keeps workspaces and registered models.
type ModelStore interface {
	// CreateWorkspace inserts w; ErrConflict when the tenant has a
	// workspace of that name. The default workspace ("0") is implicit:
	// never stored, always found by GetWorkspace.
	CreateWorkspace(ctx context.Context, w *atelier.Workspace) error
	GetWorkspace(ctx context.Context, tenantID, id string) (*atelier.Workspace, error)
	// ListWorkspaces returns the tenant's workspaces, the default first.
	ListWorkspaces(ctx context.Context, tenantID string) ([]*atelier.Workspace, error)
	// CreateModel inserts m; ErrConflict when the workspace has a model of
	// that name and version.
	CreateModel(ctx context.Context, m *atelier.Model) error
	// GetModel returns ErrNotFound for a model of another tenant.
	GetModel(ctx context.Context, tenantID, id string) (*atelier.Model, error)
	// ListModels applies f (validated by the caller: Limit in
	// 1..MaxModelPage, SortBy and Order known, WorkspaceID set): Name and
	// Description match substrings case-insensitively, ties of the sort
	// key are ordered by id in the same direction; TotalCount counts every
	// match regardless of Offset and Limit.
	ListModels(ctx context.Context, tenantID string, f atelier.ModelFilter) (*atelier.ModelPage, error)
	// UpdateModel reads the model, calls fn and writes it back in one
	// transaction (fn may run more than once, without side effects).
	UpdateModel(ctx context.Context, tenantID, id string, fn func(m *atelier.Model) error) (*atelier.Model, error)
	// DeleteModel deletes the model; ErrNotFound when missing, and
	// ErrConflict with the name of a service that uses it (a service's
	// configs hold its models, enforced by the database so that a deploy
	// racing the delete cannot win both).
	DeleteModel(ctx context.Context, tenantID, id string) (usedBy string, err error)
}

// ServiceStore keeps inference services and their instances. A service's
// configs are stored with it, and the models they name are referenced so
// that a model in use cannot be deleted.
type ServiceStore interface {
	// CreateService inserts s; ErrConflict when the tenant has a service of
	// that name; ErrNotFound when a config's model does not exist (in the
	// tenant).
	CreateService(ctx context.Context, s *atelier.InferenceService) error
	GetService(ctx context.Context, tenantID, id string) (*atelier.InferenceService, error)
	GetServiceByName(ctx context.Context, tenantID, name string) (*atelier.InferenceService, error)
	// ListServices applies f, newest first (Limit defaulted by the caller).
	ListServices(ctx context.Context, tenantID string, f atelier.ServiceFilter) (*atelier.ServicePage, error)
	// UpdateService reads the service, calls fn and writes it back (with
	// its configs' model references) in one transaction; ErrNotFound when
	// a config's model does not exist. fn may run more than once.
	UpdateService(ctx context.Context, tenantID, id string, fn func(s *atelier.InferenceService) error) (*atelier.InferenceService, error)
	// DeleteService deletes the service with its instances.
	DeleteService(ctx context.Context, tenantID, id string) error
	// ActiveServices returns every service (of every tenant) whose status
	// is not stopped, oldest first: what a restarted server re-adopts.
	ActiveServices(ctx context.Context) ([]*atelier.InferenceService, error)
	// PutInstance inserts or replaces one instance record (its Handle
	// included); ErrNotFound when the service is gone.
	PutInstance(ctx context.Context, serviceID string, in *atelier.ServiceInstance) error
	// DeleteInstance removes one; deleting a missing one is not an error.
	DeleteInstance(ctx context.Context, serviceID, instanceID string) error
	// ListInstances returns the service's instance records by config, then
	// creation.
	ListInstances(ctx context.Context, serviceID string) ([]*atelier.ServiceInstance, error)
}

// SampleStats are the counts of a dataset's samples.
type SampleStats struct {
	Total     int64
	Annotated int64
	ByLabel   map[string]int64
	ByUsage   map[string]int64
}

// DatasetStore keeps datasets, their samples (up to millions per dataset),
// import and export tasks and versions. A dataset's SampleCount and
// AnnotatedCount are derived when read (cheaply: kept as counters updated
// in the transactions that change samples).
type DatasetStore interface {
	// CreateDataset inserts d; ErrConflict when the tenant has a dataset of
	// that name.
	CreateDataset(ctx context.Context, d *atelier.Dataset) error
	// GetDataset returns ErrNotFound for another tenant's dataset.
	GetDataset(ctx context.Context, tenantID, id string) (*atelier.Dataset, error)
	// ListDatasets returns a tenant's datasets by name; name "" lists all,
	// else only that name.
	ListDatasets(ctx context.Context, tenantID, name string) ([]*atelier.Dataset, error)
	// UpdateDataset reads, calls fn and writes back name, description,
	// labels, schema and updated time in one transaction; ErrConflict on a
	// taken name.
	UpdateDataset(ctx context.Context, tenantID, id string, fn func(d *atelier.Dataset) error) (*atelier.Dataset, error)
	// DeleteDataset deletes the dataset with its samples, versions (and
	// their snapshots) and tasks; ErrNotFound when missing.
	DeleteDataset(ctx context.Context, tenantID, id string) error

	// AddSamples inserts the samples whose Source the dataset does not have
	// yet (a re-import never duplicates), assigning IDs to new ones, and in
	// the same transaction writes task (its progress and Cursor) when task
	// is not nil. It returns how many samples were new. Samples' Labels are
	// indexed for ListSamples' label filter.
	AddSamples(ctx context.Context, datasetID string, samples []*atelier.Sample, task *atelier.ImportTask) (added int, err error)
	GetSample(ctx context.Context, datasetID, sampleID string) (*atelier.Sample, error)
	// ListSamples pages samples by id (keyset, no OFFSET) with the filter;
	// every page costs about the same at any depth.
	ListSamples(ctx context.Context, datasetID string, f atelier.SampleFilter) ([]*atelier.Sample, error)
	// UpdateSample reads, calls fn and writes back usage, annotations and
	// labels in one transaction.
	UpdateSample(ctx context.Context, datasetID, sampleID string, fn func(s *atelier.Sample) error) (*atelier.Sample, error)
	// DeleteSamples deletes the listed samples and returns how many existed.
	DeleteSamples(ctx context.Context, datasetID string, ids []string) (int, error)
	SampleStats(ctx context.Context, datasetID string) (*SampleStats, error)

	CreateImportTask(ctx context.Context, t *atelier.ImportTask) error
	GetImportTask(ctx context.Context, datasetID, taskID string) (*atelier.ImportTask, error)
	// ListImportTasks returns a dataset's import tasks, newest first.
	ListImportTasks(ctx context.Context, datasetID string) ([]*atelier.ImportTask, error)
	UpdateImportTask(ctx context.Context, datasetID, taskID string, fn func(t *atelier.ImportTask) error) (*atelier.ImportTask, error)
	// ActiveImportTasks returns the import tasks of every tenant that are
	// QUEUED or RUNNING, oldest first (to resume after a restart).
	ActiveImportTasks(ctx context.Context) ([]*atelier.ImportTask, error)

	// CreateDatasetVersion inserts v as the dataset's next version (Name
	// V001, V002, … assigned here) and snapshots the dataset's current
	// samples and annotations into it, in one transaction.
	CreateDatasetVersion(ctx context.Context, v *atelier.DatasetVersion) error
	GetDatasetVersion(ctx context.Context, datasetID, versionID string) (*atelier.DatasetVersion, error)
	// ListDatasetVersions returns a dataset's versions, newest first.
	ListDatasetVersions(ctx context.Context, datasetID string) ([]*atelier.DatasetVersion, error)
	UpdateDatasetVersion(ctx context.Context, datasetID, versionID string, fn func(v *atelier.DatasetVersion) error) (*atelier.DatasetVersion, error)
	// ListVersionSamples pages a version's snapshot by sample id after
	// after.
	ListVersionSamples(ctx context.Context, versionID, after string, limit int) ([]*atelier.Sample, error)

	CreateExportTask(ctx context.Context, t *atelier.ExportTask) error
	ListExportTasks(ctx context.Context, datasetID string) ([]*atelier.ExportTask, error)
	UpdateExportTask(ctx context.Context, datasetID, taskID string, fn func(t *atelier.ExportTask) error) (*atelier.ExportTask, error)
}

// BucketStore keeps buckets, unique by (tenant, name).
type BucketStore interface {
	// CreateBucket inserts b; ErrConflict when the tenant has the name.
	CreateBucket(ctx context.Context, b *atelier.Bucket) error
	GetBucket(ctx context.Context, tenantID, name string) (*atelier.Bucket, error)
	// ListBuckets returns a tenant's buckets ordered by name.
	ListBuckets(ctx context.Context, tenantID string) ([]*atelier.Bucket, error)
	// DeleteBucket deletes an empty bucket: ErrNotFound when missing,
	// ErrNotEmpty when it holds objects. The emptiness check and the delete
	// are one transaction, so a concurrent CommitObject cannot slip in.
	DeleteBucket(ctx context.Context, tenantID, name string) error
}

// Upload is an upload in progress: bytes are being written to BlobKey and are
// not yet visible. A pending upload whose heartbeat stopped belongs to a
// server that died; the sweeper deletes its blob and the record.
type Upload struct {
	ID        string
	BucketID  string
	Key       string
	BlobKey   string
	CreatedAt time.Time
	UpdatedAt time.Time // heartbeat
}

// ObjectStore keeps object metadata, pending uploads and the queue of blobs
// to delete. Keys are compared byte-wise (binary collation) everywhere. The
// times of the deletion queue are the caller's: the store reads no clock.
type ObjectStore interface {
	// BeginUpload records a pending upload before any byte is written.
	BeginUpload(ctx context.Context, u *Upload) error
	// TouchUpload moves an upload's heartbeat to now.
	TouchUpload(ctx context.Context, id string, now time.Time) error
	// CommitUpload makes o visible in one transaction: it deletes the pending
	// upload, inserts or replaces the object (BucketID, Key) and, when an
	// object was replaced, queues its blob for deletion at now and returns
	// its blob key (else ""). ErrNotFound when the upload or the bucket is
	// gone.
	CommitUpload(ctx context.Context, uploadID string, o *atelier.Object, now time.Time) (replacedBlobKey string, err error)
	// AbortUpload deletes a pending upload record; unknown ids are not an error.
	AbortUpload(ctx context.Context, id string) error
	// StaleUploads returns pending uploads whose heartbeat is older than before.
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]*Upload, error)

	// GetObject returns ErrNotFound when the key is absent.
	GetObject(ctx context.Context, bucketID, key string) (*atelier.Object, error)
	// DeleteObject removes the object and queues its blob for deletion at
	// now in one transaction, returning the blob key; ErrNotFound when
	// absent.
	DeleteObject(ctx context.Context, bucketID, key string, now time.Time) (blobKey string, err error)
	// ListObjects returns up to limit objects whose key starts with prefix and
	// sorts strictly after after (byte order), ascending.
	ListObjects(ctx context.Context, bucketID, prefix, after string, limit int) ([]*atelier.Object, error)
	// CountObjects returns the number of objects in a bucket.
	CountObjects(ctx context.Context, bucketID string) (int64, error)

	// QueueBlobDeletion records, at now, that a blob must be deleted (used
	// when an upload is abandoned and its immediate delete fails); a key
	// already queued keeps its entry and time.
	QueueBlobDeletion(ctx context.Context, blobKey string, now time.Time) error
	// PendingBlobDeletions returns up to limit queued blob keys, oldest first.
	PendingBlobDeletions(ctx context.Context, limit int) ([]string, error)
	// DoneBlobDeletion removes a blob key from the queue; unknown keys are not
	// an error.
	DoneBlobDeletion(ctx context.Context, blobKey string) error
}
